/**
 * What only the real server can show: configuration and connection, stream setup, the interop vectors published
 * by a plain NATS client, three connected instances of one durable, the max-deliveries advisory of a crashed
 * instance, a server restart during a publish burst, and publishes waiting out an outage.
 */
import { describe, expect, it } from "@effect/vitest"
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream"
import { nanos } from "@nats-io/nats-core"
import { connect } from "@nats-io/transport-node"
import {
  ConfigProvider,
  Context,
  Deferred,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  Layer,
  Logger,
  Option,
  Queue,
  Ref,
  Schema,
  Scope
} from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import * as Bus from "../src/Bus/Bus.js"
import { BusConfig, JetStream, JetStreamSetup } from "../src/Bus/index.js"
import * as GlamConfig from "../src/Config/index.js"
import { MessageBusError, NotFoundError } from "../src/Errors/index.js"
import * as EventEnvelope from "../src/Events/EventEnvelope.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as Streams from "../src/Events/Streams.js"
import { poll, take, unique } from "./fixtures/bus/conformance.js"
import { withJsm } from "./support/busJetStream.js"
import { interopPath, pythonConsumerCheck } from "./support/interop.js"
import { freePort } from "./support/localService.js"
import { addReplicatedStream, type NatsCluster, newLeader, startNatsCluster } from "./support/natsCluster.js"
import { type NatsServer, serverProcess, startNatsServer, startNatsServerWith } from "./support/natsServer.js"
import { serviceAvailable, services } from "./support/services.js"
import { toolAvailable, toolPath } from "./support/tools.js"

const natsUp = await serviceAvailable("nats")
const pythonFound = toolAvailable("python3")
const natsServerFound = toolAvailable("nats-server")
const url = `nats://${services.nats.host}:${services.nats.port}`
const run = Date.now().toString(36)

const options = (
  servers: ReadonlyArray<string>,
  extra?: Partial<JetStream.JetStreamOptions>
): JetStream.JetStreamOptions => ({
  servers,
  user: Option.none(),
  password: Option.none(),
  token: Option.none(),
  serviceName: "bus-jetstream-test",
  appEnv: "test",
  streams: BusConfig.defaultStreamLimits,
  publishTimeout: Duration.seconds(1),
  publishRetryBudget: Duration.seconds(30),
  ownStreams: Option.none(),
  ensureStreams: true,
  ...extra
})

const Any = Schema.Record({ key: Schema.String, value: Schema.Unknown })
const Def = (domain: string, name: string) =>
  EventDefinition.event(`${domain}.${name}`, Any, { stream: Streams.make(domain.toUpperCase()) })

/**
 * A stream of the test's own on the shared server (deleted when the scope closes), an `<event>` on it whose payload
 * is `{ n }`, and a JetStream Bus that declares it.
 */
const ownStream = (name: string, event: string, extra?: Partial<JetStream.JetStreamOptions>) =>
  Effect.gen(function*() {
    const suffix = unique(name).replace(/[^a-z0-9]/gi, "").toLowerCase()
    const stream = Streams.make(`BUS${name}_${suffix}`.toUpperCase(), { domain: `bus${name}${suffix}` })
    const Def = EventDefinition.event(`${stream.domain}.${event}`, Schema.Struct({ n: Schema.Number }), { stream })
    yield* Effect.addFinalizer(() => withJsm(url, (jsm) => jsm.streams.delete(stream.name)).pipe(Effect.ignore))
    const ctx = yield* Layer.build(JetStream.layer(options([url], { streamDefinitions: [stream], ...extra })))
    return { Def, ctx, stream }
  })

const natsServer = Effect.acquireRelease(
  Effect.promise(startNatsServer),
  (s: NatsServer) => Effect.promise(() => s.dispose())
)

/** The lines logged while the returned layer is provided. */
const captureLogs = () => {
  const lines: Array<{ readonly level: string; readonly message: string }> = []
  const layer = Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ logLevel, message }) => {
      lines.push({ level: logLevel.label, message: Array.isArray(message) ? message.join(" ") : String(message) })
    })
  )
  return { lines, layer }
}

// A service's own stream, as the Python package would have created it (shared/messaging/publisher.py).
const Orders = Streams.make("ORDERS")
const OrderPlaced = EventDefinition.event("orders.placed", Any, { stream: Orders })
const pythonStream = {
  name: Orders.name,
  subjects: [...Orders.subjects],
  retention: RetentionPolicy.Limits,
  max_age: nanos(7 * 24 * 3600 * 1000),
  max_msgs_per_subject: 100_000,
  storage: StorageType.File,
  duplicate_window: nanos(60_000),
  allow_rollup_hdrs: true
}

describe("Bus on JetStream, connecting", () => {
  it.live("a failed connect names the servers without the credentials of their URLs, in the error and in the logs", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const logs = captureLogs()
      // A plain password, and one with a quote and a space (raw, as a hand-written URL may hold them).
      for (const server of [`nats://user:s3cretPw@127.0.0.1:${port}`, `nats://user:s3cretPw"x y@127.0.0.1:${port}`]) {
        const error = yield* Effect.flip(
          Effect.scoped(Layer.build(JetStream.layer(options([server], { ensureStreams: false })))).pipe(
            Effect.tapErrorCause((cause) => Effect.logError("connect failed", cause)),
            Effect.provide(logs.layer)
          )
        )
        expect(error._tag).toBe("MessageBusError")
        expect(error.message).toContain(`127.0.0.1:${port}`)
        for (const text of [error.message, String(error), JSON.stringify(error), String(error.cause)]) {
          expect(text).not.toContain("s3cretPw")
        }
      }
      expect(logs.lines.length).toBeGreaterThan(0)
      expect(logs.lines.filter((l) => l.message.includes("s3cretPw"))).toEqual([])
    }))
})

describe.skipIf(!natsUp)("Bus on JetStream", () => {
  it.scopedLive.skipIf(!pythonFound)(
    "layerConfig connects from config, ensures streams, publishes, and reports health",
    () =>
      Effect.gen(function*() {
        const stream = Streams.make(`BUSCFG_${run}`.toUpperCase(), { domain: `buscfg${run}` })
        const Def = EventDefinition.event(`${stream.domain}.configured`, Any, { stream })
        const provider = ConfigProvider.fromJson({
          service: { name: "catalog-service" },
          app_env: "test",
          nats: { servers: [url], stream_max_age: "1 day", stream_duplicate_window: "30 seconds" }
        })
        const layer = JetStream.layerConfig(BusConfig.config, { streamDefinitions: [stream] }).pipe(
          Layer.provide(Layer.setConfigProvider(provider))
        )
        const scope = yield* Scope.make()
        const ctx = yield* Layer.buildWithScope(layer, scope)
        const ack = yield* Bus.publish(Def, { a: 1 }).pipe(Effect.provide(ctx))
        expect(ack.stream).toBe(stream.name)
        const health = yield* Bus.health.pipe(Effect.provide(ctx))
        expect(health).toMatchObject({ implementation: "jetstream", status: "connected", healthy: true })
        const info = yield* withJsm(url, (jsm) => jsm.streams.info(stream.name))
        expect(info.config.max_age).toBe(nanos(24 * 3600 * 1000))
        expect(info.config.duplicate_window).toBe(nanos(30_000))
        expect(info.config.storage).toBe("file")
        expect(info.config.num_replicas).toBe(1)
        const stored = yield* withJsm(url, (jsm) => jsm.streams.getMessage(stream.name, { seq: ack.sequence }))
        expect(stored!.header.get("Nats-Msg-Id")).toBe(ack.eventId)
        const body = JSON.parse(new TextDecoder().decode(stored!.data))
        expect(body.metadata.source_service).toBe("catalog-service")
        expect(stored!.header.get("X-Correlation-ID")).toBe(body.correlation_id)
        // What we publish is accepted by the Python subscriber's own rules.
        const check = yield* Effect.promise(() => pythonConsumerCheck([stored!.data], Def.subject))
        expect(check.output).not.toMatch(/dropped|rejected/)
        expect(check.status).toBe(0)
        yield* Scope.close(scope, Exit.void)
        yield* withJsm(url, (jsm) => jsm.streams.delete(stream.name))
      })
  )

  it.effect("the stream defaults are the Python package's in every environment, and a server that is not there is a MessageBusError at startup", () =>
    Effect.gen(function*() {
      const prod = yield* Effect.withConfigProvider(
        BusConfig.config,
        ConfigProvider.fromJson({ service: { name: "x" }, app_env: "prod" })
      )
      // shared/messaging/publisher.py `ensure_stream`: no replica count (the server's one), a 60 s duplicate window.
      expect(prod.streams).toEqual({
        retention: "limits",
        storage: "file",
        maxAge: Duration.days(7),
        maxMsgsPerSubject: 100_000,
        maxMsgs: -1,
        maxBytes: -1,
        duplicateWindow: Duration.seconds(60),
        replicas: 1
      })
      expect(prod.updateStreams).toBe(false)
      expect(prod.declaredStreams).toEqual([])
      // As an environment variable sets them (`<PREFIX>_NATS__STREAMS=ORDERS,PAYMENTS`).
      const declaring = (streams: string) =>
        Effect.withConfigProvider(
          BusConfig.config,
          GlamConfig.provider(
            GlamConfig.fromObject({ service: { name: "x" }, nats: { streams, update_streams: "true" } })
          )
        )
      expect(yield* declaring("ORDERS,PAYMENTS")).toMatchObject({
        declaredStreams: ["ORDERS", "PAYMENTS"],
        updateStreams: true
      })
      const invalid = yield* Effect.flip(declaring("ORDERS,evt.orders.>"))
      expect(String(invalid)).toContain("nats.streams")
      expect(String(invalid)).toContain(`"evt.orders.>"`)
      expect(prod.servers).toEqual(["nats://127.0.0.1:4222"])
      const error = yield* Effect.flip(
        Effect.scoped(Layer.build(JetStream.layer(options(["nats://127.0.0.1:1"], { ensureStreams: false }))))
      )
      expect(error._tag).toBe("MessageBusError")
      expect(error.details).toMatchObject({ operation: "connect" })
    }))

  it.live("ensuring streams updates what NATS allows, reports what it does not, and never deletes", () =>
    Effect.gen(function*() {
      const mutable = Streams.make(`BUSMUT_${run}`.toUpperCase(), { domain: `busmut${run}` })
      const fixed = Streams.make(`BUSFIX_${run}`.toUpperCase(), { domain: `busfix${run}` })
      const limits = BusConfig.defaultStreamLimits
      yield* Effect.promise(async () => {
        const nc = await connect({ servers: url })
        const jsm = await jetstreamManager(nc)
        await jsm.streams.add({ name: mutable.name, subjects: [`evt.${mutable.domain}.*`], max_age: nanos(60_000) })
        await jsm.streams.add({ name: fixed.name, subjects: [...fixed.subjects], storage: StorageType.Memory })
        await jetstream(nc).publish(`evt.${fixed.domain}.kept`, "kept")
        await nc.close()
      })
      const ensure = (definitions: ReadonlyArray<Streams.StreamDefinition>) =>
        withJsm(
          url,
          (jsm) => Effect.runPromise(JetStreamSetup.ensureStreams(jsm, definitions, { limits, update: true }))
        )
      const reports = yield* ensure([mutable, fixed])
      const byName = Object.fromEntries(reports.map((r) => [r.stream, r]))
      expect(byName[mutable.name]!.action).toBe("updated")
      expect(byName[mutable.name]!.changes.some((c) => c.startsWith("subjects:"))).toBe(true)
      expect(byName[mutable.name]!.changes.some((c) => c.startsWith("max_age:"))).toBe(true)
      expect(byName[fixed.name]!.action).toBe("conflict")
      expect(byName[fixed.name]!.problem).toMatch(/storage/)
      const [mutInfo, fixInfo] = yield* withJsm(
        url,
        (jsm) => Promise.all([jsm.streams.info(mutable.name), jsm.streams.info(fixed.name)])
      )
      expect([...mutInfo.config.subjects].sort()).toEqual([...mutable.subjects].sort())
      expect(mutInfo.config.max_age).toBe(nanos(Duration.toMillis(limits.maxAge)))
      expect(fixInfo.state.messages).toBe(1)
      const again = yield* ensure([mutable])
      expect(again[0]!.action).toBe("unchanged")
      yield* withJsm(url, (jsm) => Promise.all([jsm.streams.delete(mutable.name), jsm.streams.delete(fixed.name)]))
    }))

  it.scopedLive("a stream whose subjects another stream holds is not made, and the error names that stream", () =>
    Effect.gen(function*() {
      // The fleet's stream over the subjects, under another name (a healthcare stream `APPOINTMENTS` over
      // `appointment.>`), and a service declaring its own over part of them.
      const domain = `busovl${run}`
      const fleet = `FLEET_${run}`.toUpperCase()
      const declared = Streams.make(`BUSOVL_${run}`.toUpperCase(), { subjects: [`${domain}.scheduled.>`] })
      yield* Effect.addFinalizer(() => withJsm(url, (jsm) => jsm.streams.delete(fleet)).pipe(Effect.ignore))
      yield* withJsm(url, (jsm) => jsm.streams.add({ name: fleet, subjects: [`${domain}.>`] }))
      const error = yield* withJsm(
        url,
        (jsm) =>
          Effect.runPromise(Effect.flip(JetStreamSetup.ensureStreams(jsm, [declared], {
            limits: BusConfig.defaultStreamLimits,
            update: false
          })))
      )
      expect(error).toBeInstanceOf(MessageBusError)
      expect(error.message).toContain(`Cannot create stream ${declared.name}`)
      expect(error.message).toContain(`stream ${fleet} holds ${domain}.scheduled.>`)
      expect(error.message).toContain(`Streams.make("${fleet}"`)
      expect(error.retryable).toBe(false)
      const names = yield* withJsm(url, (jsm) => jsm.streams.names().next())
      expect(names).not.toContain(declared.name)
    }))

  it.scopedLive("a publish whose outcome is unknown (no responders: the stream is not there yet) is retried until it is stored once", () =>
    Effect.gen(function*() {
      const stream = Streams.make(`BUSRETRY_${run}`.toUpperCase(), { domain: `busretry${run}` })
      const Def = EventDefinition.event(`${stream.domain}.late`, Schema.Struct({ n: Schema.Number }), { stream })
      yield* Effect.addFinalizer(() => withJsm(url, (jsm) => jsm.streams.delete(stream.name)).pipe(Effect.ignore))
      // Declared but not ensured: the test stream appears while the publish is being retried.
      const ctx = yield* Layer.build(
        JetStream.layer(options([url], { streamDefinitions: [stream], ensureStreams: false }))
      )
      const publishing = yield* Bus.publish(Def, { n: 1 }, { idempotencyKey: `late-${run}` }).pipe(
        Effect.provide(ctx),
        Effect.fork
      )
      yield* Effect.sleep("700 millis")
      yield* withJsm(url, (jsm) => jsm.streams.add({ name: stream.name, subjects: [...stream.subjects] }))
      const ack = yield* publishing.await.pipe(Effect.flatten)
      expect(ack.stream).toBe(stream.name)
      expect(ack.duplicate).toBe(false)
      const info = yield* withJsm(url, (jsm) => jsm.streams.info(stream.name))
      expect(info.state.messages).toBe(1)
    }))

  it.scopedLive("three connected instances of one durable consumer process each message once", () =>
    Effect.gen(function*() {
      const stream = Streams.make(`BUS3_${run}`.toUpperCase(), { domain: `bus3${run}` })
      const Def = EventDefinition.event(`${stream.domain}.work`, Schema.Struct({ n: Schema.Number }), { stream })
      // Registered first, so it runs last: after the instances stopped.
      yield* Effect.addFinalizer(() => withJsm(url, (jsm) => jsm.streams.delete(stream.name)).pipe(Effect.ignore))
      const layer = JetStream.layer(options([url], { streamDefinitions: [stream] }))
      const handled = yield* Queue.unbounded<{ instance: number; n: number }>()
      const durable = unique("three")
      for (let instance = 0; instance < 3; instance++) {
        const ctx = yield* Layer.build(layer)
        yield* Bus.subscribe(
          Def,
          { durable, batchSize: 2, concurrency: 1 },
          (event) => Effect.zipRight(Effect.sleep("10 millis"), Queue.offer(handled, { instance, n: event.payload.n }))
        ).pipe(
          Effect.provide(ctx)
        )
      }
      const publisher = yield* Layer.build(layer)
      const results = yield* Bus.publishMany(Array.from({ length: 60 }, (_, n) => Bus.message(Def, { n }))).pipe(
        Effect.provide(publisher)
      )
      expect(results.every(Either.isRight)).toBe(true)
      const got = yield* take(handled, 60)
      expect(new Set(got.map((g) => g.n)).size).toBe(60)
      expect(new Set(got.map((g) => g.instance)).size).toBeGreaterThan(1)
      yield* Effect.sleep("500 millis")
      expect(yield* Queue.size(handled)).toBe(0)
    }))

  it.scopedLive("shutdown leaves nothing held: what was pulled but not handled is nak'd, not left to the ack wait", () =>
    Effect.gen(function*() {
      const stream = Streams.make(`BUSSTOP_${run}`.toUpperCase(), { domain: `busstop${run}` })
      const Def = EventDefinition.event(`${stream.domain}.work`, Schema.Struct({ n: Schema.Number }), { stream })
      yield* Effect.addFinalizer(() => withJsm(url, (jsm) => jsm.streams.delete(stream.name)).pipe(Effect.ignore))
      const layer = JetStream.layer(options([url], { streamDefinitions: [stream] }))
      const bus = yield* Layer.build(layer)
      const durable = unique("stop")
      // An ack wait far longer than the test: only naks can bring held messages back in time.
      const subscribe: Bus.SubscribeOptions = {
        durable,
        batchSize: 20,
        concurrency: 1,
        ackWait: "5 minutes",
        drainTimeout: "5 seconds"
      }
      const results = yield* Bus.publishMany(Array.from({ length: 60 }, (_, n) => Bus.message(Def, { n }))).pipe(
        Effect.provide(bus)
      )
      expect(results.every(Either.isRight)).toBe(true)

      const first = yield* Queue.unbounded<number>()
      const instance = yield* Scope.make()
      const subscription = yield* Bus.subscribe(
        Def,
        subscribe,
        (event) => Effect.zipRight(Effect.sleep("30 millis"), Queue.offer(first, event.payload.n))
      ).pipe(
        Effect.provide(bus),
        Scope.extend(instance)
      )
      const early = yield* take(first, 3)
      // The instance holds a pulled batch and a full local buffer when it stops.
      const before = yield* subscription.lag
      expect(before.ackPending).toBeGreaterThan(3)
      yield* Scope.close(instance, Exit.void)
      const handledFirst = [...early, ...(yield* Queue.takeAll(first))]

      // A second instance gets everything the first did not handle within seconds (the release delay), not after
      // the 5-minute ack wait (`take` gives up after 15 s): what the first pulled, buffered or had in hand was nak'd,
      // each exactly once, none lost to a pull request the first left on the server.
      const second = yield* Queue.unbounded<number>()
      yield* Bus.subscribe(Def, { ...subscribe, concurrency: 4 }, (event) => Queue.offer(second, event.payload.n)).pipe(
        Effect.provide(bus)
      )
      const rest = yield* take(second, 60 - handledFirst.length)
      const all = [...handledFirst, ...rest]
      expect(new Set(all).size).toBe(60)
      expect(all.length).toBe(60)
    }))

  it.scopedLive("a handler interrupted at shutdown is logged with the delay its message is nak'd with", () =>
    Effect.gen(function*() {
      const stream = Streams.make(`BUSDRAIN_${run}`.toUpperCase(), { domain: `busdrain${run}` })
      const Def = EventDefinition.event(`${stream.domain}.work`, Schema.Struct({ n: Schema.Number }), { stream })
      yield* Effect.addFinalizer(() => withJsm(url, (jsm) => jsm.streams.delete(stream.name)).pipe(Effect.ignore))
      const ctx = yield* Layer.build(JetStream.layer(options([url], { streamDefinitions: [stream] })))
      const lines: Array<{ readonly message: string; readonly annotations: Record<string, unknown> }> = []
      const capture = Logger.make(({ annotations, message }) => {
        lines.push({ message: [message].flat().join(" "), annotations: Object.fromEntries(annotations) })
      })
      const started = yield* Deferred.make<void>()
      const instance = yield* Scope.make()
      yield* Bus.subscribe(
        Def,
        { durable: unique("drain"), drainTimeout: "100 millis" },
        () => Effect.zipRight(Deferred.succeed(started, undefined), Effect.never)
      ).pipe(Effect.provide(ctx), Effect.provide(Logger.add(capture)), Scope.extend(instance))
      yield* Bus.publish(Def, { n: 1 }).pipe(Effect.provide(ctx))
      yield* Deferred.await(started)
      yield* Scope.close(instance, Exit.void)
      const nak = lines.find((l) => l.message.includes("nak'd") && l.annotations["reason"] === "interrupted")
      // The JetStream release delay (docs/Bus.md), not the zero delay of the verdict.
      expect(nak?.annotations["delay"]).toBe(Duration.format(Duration.seconds(6)))
    }))

  it.scopedLive("behind a handler slower than half the ack wait, every message is delivered once: none waits unextended", () =>
    Effect.gen(function*() {
      const { Def, ctx, stream } = yield* ownStream("slow", "job")
      // More than the local buffer (batch 4) and the one handler hold: the subscription pulls only what it has room
      // for, so every pulled message waits where its ack wait is extended.
      const count = 9
      yield* Effect.forEach(Array.from({ length: count }, (_, n) => n), (n) => Bus.publish(Def, { n }), {
        discard: true
      }).pipe(Effect.provide(ctx))
      const deliveries: Array<{ readonly n: number; readonly deliveryCount: number }> = []
      const durable = unique("slow")
      yield* Bus.subscribe(
        Def,
        { durable, ackWait: "3 seconds", concurrency: 1, batchSize: 4 },
        (event) =>
          Effect.zipRight(
            Effect.sync(() => deliveries.push({ n: event.payload.n, deliveryCount: event.delivery.deliveryCount })),
            Effect.sleep("1600 millis")
          )
      ).pipe(Effect.provide(ctx))
      const info = yield* poll(
        withJsm(url, (jsm) => jsm.consumers.info(stream.name, durable)),
        (i) => i.ack_floor.stream_seq >= count && i.num_ack_pending === 0 && i.num_pending === 0,
        "every message to be acked"
      )
      // The server's count of deliveries, redeliveries included, and what the handler saw.
      expect(info.delivered.consumer_seq).toBe(count)
      expect(deliveries.map((d) => d.n).sort((a, b) => a - b)).toEqual(Array.from({ length: count }, (_, n) => n))
      expect(deliveries.every((d) => d.deliveryCount === 1)).toBe(true)
    }))

  it.scopedLive(
    "a durable deleted and made again under a running subscription is pulled from again",
    () =>
      Effect.gen(function*() {
        const { Def, ctx, stream } = yield* ownStream("again", "job")
        const handled = yield* Queue.unbounded<number>()
        const durable = unique("again")
        yield* Bus.subscribe(Def, { durable }, (event) => Queue.offer(handled, event.payload.n)).pipe(
          Effect.provide(ctx)
        )
        yield* Bus.publish(Def, { n: 1 }).pipe(Effect.provide(ctx))
        expect(yield* take(handled, 1)).toEqual([1])
        // Deleted while the subscription waits on it (an operator's mistake, a redeploy), then made again as it was:
        // the new consumer starts from the first message.
        yield* withJsm(url, async (jsm) => {
          const { config } = await jsm.consumers.info(stream.name, durable)
          await jsm.consumers.delete(stream.name, durable)
          await jsm.consumers.add(stream.name, config)
        })
        yield* Bus.publish(Def, { n: 2 }).pipe(Effect.provide(ctx))
        expect([...(yield* take(handled, 2))].sort()).toEqual([1, 2])
      })
  )

  it.scopedLive("a durable that takes smaller pull requests than batchSize (max_batch) is pulled from in requests it takes", () =>
    Effect.gen(function*() {
      const { Def, ctx, stream } = yield* ownStream("maxbatch", "job")
      const durable = unique("maxbatch")
      // Made beforehand by an operator, with a limit the subscription keeps (it updates only its own settings).
      yield* withJsm(url, (jsm) =>
        jsm.consumers.add(stream.name, {
          durable_name: durable,
          ack_policy: AckPolicy.Explicit,
          filter_subject: Def.subject,
          max_batch: 2
        }))
      const handled = yield* Queue.unbounded<number>()
      yield* Bus.subscribe(Def, { durable, batchSize: 8 }, (event) => Queue.offer(handled, event.payload.n)).pipe(
        Effect.provide(ctx)
      )
      yield* Effect.forEach(Array.from({ length: 10 }, (_, n) => n), (n) => Bus.publish(Def, { n }), {
        discard: true
      }).pipe(Effect.provide(ctx))
      const got = yield* take(handled, 10)
      expect([...got].sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, n) => n))
    }))

  it.scopedLive("a handler that cannot be interrupted does not hold shutdown; its message goes to the next instance", () =>
    Effect.gen(function*() {
      const { Def, ctx } = yield* ownStream("stuck", "work")
      const durable = unique("stuck")
      const settings = { durable, drainTimeout: "200 millis", ackWait: "2 seconds" } as const
      const started = yield* Deferred.make<void>()
      const instance = yield* Scope.make()
      yield* Bus.subscribe(
        Def,
        settings,
        () => Effect.zipRight(Deferred.succeed(started, undefined), Effect.uninterruptible(Effect.never))
      ).pipe(Effect.provide(ctx), Scope.extend(instance))
      const sent = yield* Bus.publish(Def, { n: 1 }).pipe(Effect.provide(ctx))
      yield* Deferred.await(started)
      // Disconnected, so that a close that never completes fails the test instead of hanging it.
      yield* Scope.close(instance, Exit.void).pipe(
        Effect.disconnect,
        Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("shutdown did not complete") })
      )
      const next = yield* Queue.unbounded<Bus.Delivery>()
      yield* Bus.subscribe(Def, settings, (event) => Queue.offer(next, event.delivery)).pipe(Effect.provide(ctx))
      const delivery = yield* Queue.take(next).pipe(
        Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("the message was not redelivered") })
      )
      expect(delivery.streamSequence).toBe(sent.sequence)
      expect(delivery.deliveryCount).toBe(2)
    }))

  it.scopedLive("a message a crashed instance took reaches the dead letters through the max-deliveries advisory", () =>
    Effect.gen(function*() {
      const stream = Streams.make(`BUSADV_${run}`.toUpperCase(), { domain: `busadv${run}` })
      const Def = EventDefinition.event(`${stream.domain}.job`, Schema.Struct({ n: Schema.Number }), { stream })
      const durable = unique("crashed")
      yield* Effect.addFinalizer(() =>
        withJsm(
          url,
          (jsm) =>
            Promise.all([jsm.streams.delete(stream.name), jsm.streams.purge("DLQ", { filter: `dlq.${stream.name}.>` })])
        ).pipe(Effect.ignore)
      )
      const ctx = yield* Layer.build(JetStream.layer(options([url], { streamDefinitions: [stream] })))
      yield* withJsm(url, (jsm) =>
        jsm.consumers.add(stream.name, {
          durable_name: durable,
          ack_policy: AckPolicy.Explicit,
          filter_subject: Def.subject,
          ack_wait: nanos(1000),
          max_deliver: 1
        }))
      const ack = yield* Bus.publish(Def, { n: 1 }).pipe(Effect.provide(ctx))
      // The crashed instance: a plain client fetches the message and dies without settling it.
      yield* Effect.promise(async () => {
        const nc = await connect({ servers: url })
        const consumer = await jetstream(nc).consumers.get(stream.name, durable)
        const msg = await consumer.next({ expires: 2000 })
        expect(msg?.seq).toBe(ack.sequence)
        await nc.close()
      })
      const handled = yield* Ref.make(0)
      yield* Bus.subscribe(
        Def,
        { durable, ackWait: "1 second", maxDeliver: 1 },
        () => Ref.update(handled, (n) => n + 1)
      )
        .pipe(Effect.provide(ctx))
      const [letter] = yield* poll(
        Bus.deadLetters({ consumer: durable }).pipe(Effect.provide(ctx)),
        (l) => l.length === 1,
        "advisory dead letter"
      )
      expect(letter!.error.tag).toBe("MaxDeliveriesExceeded")
      expect(letter!.streamSequence).toBe(ack.sequence)
      expect(letter!.deliveryCount).toBe(1)
      expect(JSON.parse(new TextDecoder().decode(letter!.body)).event_id).toBe(ack.eventId)
      expect(yield* Ref.get(handled)).toBe(0)
    }))
})

describe.skipIf(!natsUp)("Bus on JetStream, dead letters with credential headers", () => {
  it.scopedLive("once the stream no longer keeps the original, a replay goes out without the credentials, said", () =>
    Effect.gen(function*() {
      const { Def, ctx, stream } = yield* ownStream("dlqsecret", "job")
      yield* Effect.addFinalizer(() =>
        withJsm(url, (jsm) => jsm.streams.purge("DLQ", { filter: `dlq.${stream.name}.>` })).pipe(Effect.ignore)
      )
      const failing = yield* Ref.make(true)
      const handled = yield* Queue.unbounded<{ readonly [name: string]: string }>()
      yield* Bus.subscribe(
        Def,
        { durable: unique("dlqsecret"), ackWait: "5 seconds" },
        (event) =>
          Effect.flatMap(Ref.get(failing), (fail) =>
            fail
              ? Effect.fail(new NotFoundError({ message: "no such job", details: { resource: "job" } }))
              : Queue.offer(handled, event.delivery.headers))
      ).pipe(Effect.provide(ctx))
      const { envelope, headers } = yield* EventEnvelope.makeMessage(Def, { n: 1 }, { sourceService: "bus-test" })
      const sent = yield* Bus.publishEncoded({
        subject: Def.subject,
        body: JSON.stringify(envelope),
        headers: { ...headers, "X-Api-Key": "dlq-gone-secret-0004", "X-Note": "kept" },
        msgId: envelope.event_id,
        eventId: envelope.event_id
      }).pipe(Effect.provide(ctx))
      const [letter] = yield* poll(
        Bus.deadLetters({ stream: stream.name }).pipe(Effect.provide(ctx)),
        (letters) => letters.length > 0,
        "the dead letter"
      )
      expect(letter!.headersRedacted).toEqual(["X-Api-Key"])
      const stored = yield* withJsm(url, (jsm) => jsm.streams.getMessage("DLQ", { seq: letter!.dlqSequence }))
      expect(new TextDecoder().decode(stored!.data)).not.toContain("dlq-gone-secret")
      yield* withJsm(url, (jsm) => jsm.streams.deleteMessage(stream.name, sent.sequence))
      yield* Ref.set(failing, false)
      const logs = captureLogs()
      const replay = yield* Bus.replayDeadLetters({ stream: stream.name }).pipe(
        Effect.provide(Layer.merge(Layer.succeedContext(ctx), logs.layer))
      )
      expect(replay.failed).toEqual([])
      expect(replay.replayed.length).toBe(1)
      const replayed = yield* Queue.take(handled)
      expect(replayed["X-Note"]).toBe("kept")
      expect(replayed["X-Api-Key"]).toBeUndefined()
      expect(logs.lines.map((l) => l.message)).toContainEqual(
        expect.stringContaining("is replayed without its headers X-Api-Key")
      )
    }))
})

describe.skipIf(!natsUp)("Bus on JetStream, dead letters without their body", () => {
  // The raw record in DLQ, as whoever reads the stream sees it.
  const rawRecord = (dlqSequence: number) =>
    Effect.map(
      withJsm(url, (jsm) => jsm.streams.getMessage("DLQ", { seq: dlqSequence })),
      (stored) => new TextDecoder().decode(stored!.data)
    )

  it.scopedLive("nats.dead_letter_body omit: no body in the record; a replay reads the original from its stream", () =>
    Effect.gen(function*() {
      const { Def, ctx, stream } = yield* ownStream("dlqomit", "scheduled", { deadLetterBody: "omit" })
      yield* Effect.addFinalizer(() =>
        withJsm(url, (jsm) => jsm.streams.purge("DLQ", { filter: `dlq.${stream.name}.>` })).pipe(Effect.ignore)
      )
      const failing = yield* Ref.make(true)
      const handled = yield* Queue.unbounded<number>()
      yield* Bus.subscribe(
        Def,
        { durable: unique("dlqomit"), ackWait: "5 seconds" },
        (event) =>
          Effect.flatMap(Ref.get(failing), (fail) =>
            fail
              ? Effect.fail(new NotFoundError({ message: "no such patient", details: { resource: "patient" } }))
              : Queue.offer(handled, event.payload.n))
      ).pipe(Effect.provide(ctx))
      const sent = yield* Bus.publish(Def, { n: 7731904 }).pipe(Effect.provide(ctx))
      const [letter] = yield* poll(
        Bus.deadLetters({ stream: stream.name }).pipe(Effect.provide(ctx)),
        (letters) => letters.length > 0,
        "the dead letter"
      )
      expect(letter!.bodyOmitted).toBe(true)
      expect(letter!.body.length).toBe(0)
      expect(letter!.streamSequence).toBe(sent.sequence)
      const raw = yield* rawRecord(letter!.dlqSequence)
      expect(raw).not.toContain("7731904")
      expect(JSON.parse(raw)).toMatchObject({ body_omitted: true, stream: stream.name, stream_sequence: sent.sequence })
      expect(JSON.parse(raw).body).toBeUndefined()
      yield* Ref.set(failing, false)
      const replay = yield* Bus.replayDeadLetters({ stream: stream.name }).pipe(Effect.provide(ctx))
      expect(replay.failed).toEqual([])
      expect(yield* Queue.take(handled)).toBe(7731904)
    }))

  it.scopedLive("a subscription's deadLetterBody omit; once the stream lost the original, its replay fails, said", () =>
    Effect.gen(function*() {
      const { Def, ctx, stream } = yield* ownStream("dlqomitsub", "scheduled")
      yield* Effect.addFinalizer(() =>
        withJsm(url, (jsm) => jsm.streams.purge("DLQ", { filter: `dlq.${stream.name}.>` })).pipe(Effect.ignore)
      )
      yield* Bus.subscribe(
        Def,
        { durable: unique("dlqomitsub"), ackWait: "5 seconds", deadLetterBody: "omit" },
        () => Effect.fail(new NotFoundError({ message: "no such patient", details: { resource: "patient" } }))
      ).pipe(Effect.provide(ctx))
      const sent = yield* Bus.publish(Def, { n: 5512077 }).pipe(Effect.provide(ctx))
      const [letter] = yield* poll(
        Bus.deadLetters({ stream: stream.name }).pipe(Effect.provide(ctx)),
        (letters) => letters.length > 0,
        "the dead letter"
      )
      expect(letter!.bodyOmitted).toBe(true)
      expect(yield* rawRecord(letter!.dlqSequence)).not.toContain("5512077")
      yield* withJsm(url, (jsm) => jsm.streams.deleteMessage(stream.name, sent.sequence))
      const replay = yield* Bus.replayDeadLetters({ stream: stream.name }).pipe(Effect.provide(ctx))
      expect(replay.replayed).toEqual([])
      expect(replay.failed.length).toBe(1)
      const error = replay.failed[0]!.error
      expect(error).toBeInstanceOf(MessageBusError)
      expect(error.message).toBe(
        `Dead letter ${letter!.dlqSequence} holds no body (nats.dead_letter_body: omit), and ${stream.name} no ` +
          `longer keeps message ${sent.sequence}: not replayed`
      )
      // The record is kept.
      expect((yield* Bus.deadLetters({ stream: stream.name }).pipe(Effect.provide(ctx))).length).toBe(1)
    }))
})

describe.skipIf(!natsServerFound)("Bus on a test-owned nats-server with a small max_payload", () => {
  it.scopedLive("a message near max_payload that fails for good is dead-lettered, its body cut, and replays whole", () =>
    Effect.gen(function*() {
      const maxPayload = 8192
      const server = yield* Effect.acquireRelease(
        Effect.promise(() => startNatsServerWith([], { config: `max_payload: ${maxPayload}\n` })),
        (s) => Effect.promise(() => s.dispose())
      )
      const stream = Streams.make(`BUSBIG_${run}`.toUpperCase(), { domain: `busbig${run}` })
      const Def = EventDefinition.event(`${stream.domain}.upload`, Schema.Struct({ text: Schema.String }), { stream })
      const ctx = yield* Layer.build(JetStream.layer(options([server.url], { streamDefinitions: [stream] })))
      const failing = yield* Ref.make(true)
      const handled = yield* Queue.unbounded<number>()
      yield* Bus.subscribe(
        Def,
        { durable: unique("big"), ackWait: "5 seconds" },
        (event) =>
          Effect.flatMap(Ref.get(failing), (fail) =>
            fail
              ? Effect.fail(new NotFoundError({ message: "no such upload", details: { resource: "upload" } }))
              : Queue.offer(handled, event.payload.text.length))
      ).pipe(Effect.provide(ctx))
      // As large as the server takes with the envelope and headers around it.
      const text = "x".repeat(maxPayload - 1200)
      const sent = yield* Bus.publish(Def, { text }).pipe(Effect.provide(ctx))
      const [letter] = yield* poll(
        Bus.deadLetters({ stream: stream.name }).pipe(Effect.provide(ctx)),
        (letters) => letters.length > 0,
        "the dead letter"
      )
      expect(letter!.stream).toBe(stream.name)
      expect(letter!.streamSequence).toBe(sent.sequence)
      expect(letter!.bodyTruncated).toBe(true)
      expect(letter!.body.length).toBeGreaterThan(0)
      expect(letter!.error.code).toBe("NOT_FOUND")
      const stored = yield* withJsm(server.url, (jsm) => jsm.streams.getMessage("DLQ", { seq: letter!.dlqSequence }))
      expect(stored!.data.length).toBeLessThanOrEqual(maxPayload)
      yield* Ref.set(failing, false)
      const replay = yield* Bus.replayDeadLetters({ stream: stream.name }).pipe(Effect.provide(ctx))
      expect(replay.failed).toEqual([])
      expect(yield* Queue.take(handled)).toBe(text.length)
    }))

  it.scopedLive("a message whose headers alone outgrow a record is dead-lettered without them and replays whole", () =>
    Effect.gen(function*() {
      const maxPayload = 8192
      const server = yield* Effect.acquireRelease(
        Effect.promise(() => startNatsServerWith([], { config: `max_payload: ${maxPayload}\n` })),
        (s) => Effect.promise(() => s.dispose())
      )
      const stream = Streams.make(`BUSHDR_${run}`.toUpperCase(), { domain: `bushdr${run}` })
      const Def = EventDefinition.event(`${stream.domain}.upload`, Schema.Struct({ n: Schema.Number }), { stream })
      const ctx = yield* Layer.build(JetStream.layer(options([server.url], { streamDefinitions: [stream] })))
      const failing = yield* Ref.make(true)
      const handled = yield* Queue.unbounded<string | undefined>()
      yield* Bus.subscribe(
        Def,
        { durable: unique("hdr"), ackWait: "5 seconds" },
        (event) =>
          Effect.flatMap(Ref.get(failing), (fail) =>
            fail
              // A message a record could not hold either.
              ? Effect.fail(new NotFoundError({ message: `no such upload ${"?".repeat(20_000)}`, details: {} }))
              : Queue.offer(handled, event.delivery.headers["X-Blob"]))
      ).pipe(Effect.provide(ctx))
      // The server takes the message (about 5 KB of headers), but JSON writes each `"` as two characters: with its
      // headers the record would be over max_payload, whatever is cut of the body.
      const blob = "\"".repeat(5000)
      const { envelope, headers } = yield* EventEnvelope.makeMessage(Def, { n: 1 }, { sourceService: "bus-test" })
      yield* Bus.publishEncoded({
        subject: Def.subject,
        body: JSON.stringify(envelope),
        headers: { ...headers, "X-Blob": blob },
        msgId: envelope.event_id,
        eventId: envelope.event_id
      }).pipe(Effect.provide(ctx))
      const [letter] = yield* poll(
        Bus.deadLetters({ stream: stream.name }).pipe(Effect.provide(ctx)),
        (letters) => letters.length > 0,
        "the dead letter"
      )
      expect(letter!.headersTruncated).toBe(true)
      expect(letter!.headers).toEqual({})
      expect(letter!.errorTruncated).toBe(true)
      expect(letter!.error.code).toBe("NOT_FOUND")
      expect(letter!.bodyTruncated).toBeUndefined()
      expect(JSON.parse(Buffer.from(letter!.body).toString()).event_id).toBe(envelope.event_id)
      yield* Ref.set(failing, false)
      const replay = yield* Bus.replayDeadLetters({ stream: stream.name }).pipe(Effect.provide(ctx))
      expect(replay.failed).toEqual([])
      expect(yield* Queue.take(handled)).toBe(blob)
    }))
})

describe.skipIf(!natsUp || !natsServerFound)("Bus on a test-owned nats-server", () => {
  // A Bus on the server, holding CATALOG.
  const catalogBus = (server: NatsServer, extra?: Partial<JetStream.JetStreamOptions>) =>
    Layer.build(JetStream.layer(options([server.url], { streamDefinitions: [Streams.CATALOG], ...extra })))
  // Stops the server under a connected Bus, and waits until the Bus has seen it go.
  const stopUnder = (server: NatsServer, ctx: Context.Context<Bus.Bus>) =>
    Effect.zipRight(
      Effect.promise(() => server.stop()),
      poll(Bus.health.pipe(Effect.provide(ctx)), (h) => !h.healthy, "health to report the loss")
    )

  it.scopedLive(
    "the interop vectors published by a plain client are consumed: valid ones handled, invalid ones dead-lettered with a reason",
    () =>
      Effect.gen(function*() {
        const server = yield* natsServer
        const ctx = yield* Layer.build(JetStream.layer(options([server.url])))
        const dir = interopPath("events")
        const vectors = fs.readdirSync(dir).map((name) => ({ name, data: fs.readFileSync(path.join(dir, name)) }))
        const valid = vectors.filter((v) => !v.name.startsWith("invalid-"))
        const invalid = vectors.filter((v) => v.name.startsWith("invalid-"))
        const subjects = [...new Set(valid.map((v) => JSON.parse(v.data.toString()).subject as string))]
        const handled = yield* Queue.unbounded<string>()
        for (const subject of subjects) {
          const kind = subject.startsWith("cmd.") ? EventDefinition.command : EventDefinition.event
          const Def = kind(subject, Any)
          yield* Bus.subscribe(Def, { durable: `interop_${subject.replace(/\./g, "_")}` }, (event) =>
            Queue.offer(handled, event.envelope.event_id)).pipe(Effect.provide(ctx))
        }
        const raw = (subject: string, data: Uint8Array) =>
          Effect.promise(async () => {
            const nc = await connect({ servers: server.url })
            await jetstream(nc).publish(subject, data)
            await nc.close()
          })
        // Invalid ones first: the consumer must keep going and handle what follows.
        for (const v of invalid) {
          yield* raw("evt.catalog.sync_started", v.data)
        }
        for (const v of valid) {
          yield* raw(JSON.parse(v.data.toString()).subject, v.data)
        }
        const ids = yield* take(handled, valid.length)
        expect(new Set(ids)).toEqual(
          new Set(valid.map((v) =>
            JSON.parse(v.data.toString()).event_id
          ))
        )
        const letters = yield* poll(Bus.deadLetters({ stream: "CATALOG" }).pipe(Effect.provide(ctx)), (l) =>
          l.length === invalid.length, "dead letters")
        const fields = letters.map((l) => [l.error.tag, l.error.details["field"], l.deliveryCount])
        expect(fields).toEqual(expect.arrayContaining([
          ["ValidationError", "timestamp", 1],
          ["ValidationError", "payload", 1],
          ["ValidationError", "<body>", 1]
        ]))
        for (const letter of letters) {
          const original = invalid.find((v) =>
            Buffer.compare(v.data, Buffer.from(letter.body)) === 0
          )
          expect(original).toBeDefined()
          expect(letter.error.message.length).toBeGreaterThan(0)
        }
      }),
    60_000
  )

  it.scopedLive(
    "a restart of the server during a publish burst loses nothing and stores no duplicate",
    () =>
      Effect.gen(function*() {
        const server = yield* natsServer
        const ctx = yield* catalogBus(server)
        const Burst = EventDefinition.event("catalog.burst", Schema.Struct({ n: Schema.Number }))
        const total = 300
        const acked = yield* Ref.make(0)
        const burst = yield* Effect.forEach(
          Array.from({ length: total }, (_, n) => n),
          // Paced (at least ~750 ms in all) so that the restart lands in the middle of the burst.
          (n) =>
            Bus.publish(Burst, { n }).pipe(
              Effect.tap(() => Ref.update(acked, (x) => x + 1)),
              Effect.zipLeft(Effect.sleep("5 millis")),
              Effect.either
            ),
          { concurrency: 2 }
        ).pipe(Effect.provide(ctx), Effect.fork)
        yield* poll(Ref.get(acked), (n) => n >= 50, "first acks")
        expect(yield* Ref.get(acked)).toBeLessThan(total)
        yield* Effect.promise(() => server.stop())
        const down = yield* poll(Bus.health.pipe(Effect.provide(ctx)), (h) => !h.healthy, "health to report the loss")
        expect(["disconnected", "reconnecting"]).toContain(down.status)
        yield* Effect.promise(() => server.start())
        yield* poll(Bus.health.pipe(Effect.provide(ctx)), (h) => h.healthy, "health to report the reconnect")
        const results = yield* burst.await.pipe(Effect.flatten)
        const failures = results.filter(Either.isLeft)
        expect(failures).toEqual([])
        const ids = new Set(results.filter(Either.isRight).map((r) => r.right.eventId))
        expect(ids.size).toBe(total)
        const stored = yield* withJsm(server.url, async (jsm) => {
          const info = await jsm.streams.info("CATALOG")
          const eventIds: Array<string> = []
          for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
            const m = await jsm.streams.getMessage("CATALOG", { seq })
            if (m !== null) eventIds.push(JSON.parse(new TextDecoder().decode(m.data)).event_id)
          }
          return { count: info.state.messages, eventIds }
        })
        expect(stored.count).toBe(total)
        expect(new Set(stored.eventIds)).toEqual(ids)
      }),
    80_000
  )

  it.scopedLive("a service uses the stream settings of the Python package, and never changes an existing stream unless nats.update_streams says so", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const server = yield* natsServer
      const fromConfig = (appEnv: string, nats: object) =>
        JetStream.layerConfig(BusConfig.config, { streamDefinitions: [Orders] }).pipe(
          Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson({
            service: { name: "order-service" },
            app_env: appEnv,
            nats: { servers: [server.url], ...nats }
          })))
        )
      const info = (name: string) => withJsm(server.url, (jsm) => jsm.streams.info(name))
      // Created by an operator (or another service) with a 2 minute window, one replica.
      yield* withJsm(
        server.url,
        (jsm) => jsm.streams.add({ ...pythonStream, duplicate_window: nanos(120_000), num_replicas: 1 })
      )
      const before = (yield* info("ORDERS")).config

      // The prod defaults: the stream is used as it is, with one warning naming what differs.
      yield* Effect.scoped(Effect.gen(function*() {
        const ctx = yield* Layer.build(fromConfig("prod", {}))
        expect((yield* Bus.publish(OrderPlaced, { a: 1 }).pipe(Effect.provide(ctx))).stream).toBe("ORDERS")
      }))
      expect((yield* info("ORDERS")).config).toEqual(before)
      expect(logs.lines.filter((l) => l.message.includes("stream ORDERS"))).toEqual([{
        level: "WARN",
        message: "Bus: stream ORDERS exists with other settings and is left as it is " +
          "(nats.update_streams: true updates it): duplicate_window: 2m -> 1m"
      }])
      // DLQ, created here, has the same settings but no per-subject limit.
      const dlq = (yield* info("DLQ")).config
      expect(dlq).toMatchObject({ ...pythonStream, name: "DLQ", subjects: ["dlq.>"], max_msgs_per_subject: -1 })
      expect(dlq.num_replicas).toBe(1)

      yield* Effect.scoped(Layer.build(fromConfig("prod", { update_streams: true })))
      const updated = (yield* info("ORDERS")).config
      expect(updated).toMatchObject({ ...pythonStream, num_replicas: 1 })
      expect(logs.lines.filter((l) => l.message.includes("stream ORDERS")).slice(1)).toEqual([{
        level: "INFO",
        message: "Bus: stream ORDERS updated: duplicate_window: 2m -> 1m"
      }])
    }).pipe(Effect.provide(logs.layer))
  })

  it.scopedLive("a durable of the service whose settings differ is updated, and the change logged", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const server = yield* natsServer
      const ctx = yield* Layer.build(JetStream.layer(options([server.url], { streamDefinitions: [Orders] })))
      // As the Python subscriber creates it: 30 s ack wait, 3 deliveries.
      yield* withJsm(server.url, (jsm) =>
        jsm.consumers.add(Orders.name, {
          durable_name: "order-projector",
          ack_policy: AckPolicy.Explicit,
          filter_subject: OrderPlaced.subject,
          ack_wait: nanos(30_000),
          max_deliver: 3
        }))
      yield* Bus.subscribe(OrderPlaced, { durable: "order-projector", ackWait: "45 seconds" }, () => Effect.void)
        .pipe(Effect.provide(ctx))
      const consumer = yield* withJsm(server.url, (jsm) => jsm.consumers.info(Orders.name, "order-projector"))
      expect(consumer.config).toMatchObject({ ack_wait: nanos(45_000), max_deliver: 5 })
      expect(logs.lines.filter((l) => l.message.includes("consumer"))).toEqual([{
        level: "INFO",
        message: "Bus: consumer order-projector on ORDERS updated: ack_wait: 30s -> 45s; max_deliver: 3 -> 5"
      }])
    }).pipe(Effect.provide(logs.layer))
  })

  it.scopedLive("a definition on a stream that is not declared, or not as declared, is refused with one message, before anything is made", () =>
    Effect.gen(function*() {
      const server = yield* natsServer
      // Declared events are checked before connecting: this server does not exist.
      const startup = yield* Effect.flip(Effect.scoped(Layer.build(
        JetStream.layer(options(["nats://127.0.0.1:1"], { events: [OrderPlaced, Def("orders", "shipped")] }))
      )))
      expect(startup.message).toBe(
        "Streams not declared as the service needs them:\n" +
          `  evt.orders.placed (in events): stream ORDERS is not declared; ${JetStreamSetup.howToDeclare("ORDERS")}\n` +
          `  evt.orders.shipped (in events): stream ORDERS is not declared; ${JetStreamSetup.howToDeclare("ORDERS")}`
      )
      // A stream of that name is declared, holding other subjects.
      const ctx = yield* Layer.build(
        JetStream.layer(options([server.url], { streamDefinitions: [Streams.make("ORDERS", { domain: "order" })] }))
      )
      const error = yield* Effect.flip(
        Bus.subscribe(OrderPlaced, { durable: "order-projector" }, () => Effect.void).pipe(Effect.provide(ctx))
      )
      expect(error.message).toBe(
        "Bus.subscribe evt.orders.placed (durable order-projector): its stream ORDERS holds cmd.orders.>, " +
          "evt.orders.>, but the declared ORDERS holds cmd.order.>, evt.order.>; define the event on the declared stream"
      )
      expect(error.details).toMatchObject({ operation: "subscribe", stream: "ORDERS", subject: "evt.orders.placed" })
      const consumers = yield* withJsm(server.url, async (jsm) => (await jsm.consumers.list("ORDERS").next()).length)
      expect(consumers).toBe(0)
    }))
  it.scopedLive(
    "a publish waiting while the server is down completes once it is back, before its attempt would have timed out",
    () =>
      Effect.gen(function*() {
        const server = yield* natsServer
        const publishTimeout = Duration.seconds(20)
        const ctx = yield* catalogBus(server, { publishTimeout, publishRetryBudget: Duration.minutes(1) })
        const Outage = EventDefinition.event("catalog.outage", Schema.Struct({ n: Schema.Number }))
        yield* Bus.publish(Outage, { n: 0 }).pipe(Effect.provide(ctx))
        yield* stopUnder(server, ctx)
        const started = Date.now()
        const publishing = yield* Bus.publish(Outage, { n: 1 }).pipe(Effect.provide(ctx), Effect.fork)
        // The server stays down for a while: the publish's first attempt is sent into the outage.
        yield* Effect.sleep("2 seconds")
        yield* Effect.promise(() => server.start())
        // Nothing answers an attempt sent while disconnected: unless the reconnect ends it, the publish can only
        // complete after that attempt's timeout.
        const ack = yield* Fiber.join(publishing).pipe(
          Effect.timeoutFail({
            duration: Duration.millis(started + Duration.toMillis(publishTimeout) - Date.now()),
            onTimeout: () => new Error("the publish waited for its attempt's timeout")
          })
        )
        expect(ack.stream).toBe("CATALOG")
        const info = yield* withJsm(server.url, (jsm) => jsm.streams.info("CATALOG"))
        expect(info.state.messages).toBe(2)
      }),
    60_000
  )

  it.scopedLive(
    "with the server down, a publish fails with a retryable MessageBusError within its retry budget",
    () =>
      Effect.gen(function*() {
        const server = yield* natsServer
        const budget = Duration.seconds(6)
        const ctx = yield* catalogBus(server, { publishTimeout: Duration.seconds(4), publishRetryBudget: budget })
        const Down = EventDefinition.event("catalog.down", Schema.Struct({ n: Schema.Number }))
        yield* stopUnder(server, ctx)
        const started = Date.now()
        const error = yield* Effect.flip(Bus.publish(Down, { n: 1 }).pipe(Effect.provide(ctx)))
        const elapsed = Date.now() - started
        expect(error).toBeInstanceOf(MessageBusError)
        expect((error as MessageBusError).retryable).toBe(true)
        expect((error as MessageBusError).details).toMatchObject({ operation: "publish", subject: Down.subject })
        // The budget bounds the whole publish, its last attempt's wait included (half of it again as a margin).
        expect(elapsed).toBeLessThan(Duration.toMillis(budget) * 1.5)
      }),
    60_000
  )
})

describe.skipIf(!natsUp || !natsServerFound)("Bus on a test-owned three-node cluster", () => {
  const cluster = Effect.acquireRelease(
    Effect.promise(() => startNatsCluster()),
    (c: NatsCluster) => Effect.promise(() => c.dispose())
  )

  it.scopedLive(
    "a leader election of a stream the service uses is logged once, naming the new leader; other streams' are not",
    () => {
      const logs = captureLogs()
      return Effect.gen(function*() {
        const nodes = yield* cluster
        const nc = yield* Effect.acquireRelease(
          Effect.promise(() => connect({ servers: [...nodes.urls] })),
          (nc) => Effect.promise(() => nc.close())
        )
        const jsm = yield* Effect.promise(() => jetstreamManager(nc))
        yield* Effect.promise(() => addReplicatedStream(jsm, "OTHERS"))
        const ctx = yield* Layer.build(JetStream.layer(options([...nodes.urls], {
          streams: { ...BusConfig.defaultStreamLimits, replicas: 3 },
          streamDefinitions: [Orders]
        })))
        yield* Bus.publish(OrderPlaced, { a: 1 }).pipe(Effect.provide(ctx))
        const newLeaderOf = (stream: string) =>
          Effect.promise(() =>
            newLeader(
              nc,
              `$JS.API.STREAM.LEADER.STEPDOWN.${stream}`,
              () => jsm.streams.info(stream).then((info) => info.cluster?.leader, () => undefined)
            )
          )
        const elected = (stream: string) => logs.lines.filter((l) => l.message.startsWith(`Bus: stream ${stream} `))

        // Another stream of the account changes leader: its advisory reaches every connection, and this Bus says
        // nothing. Its new leader published the advisory as it took over, before the step-down of ORDERS below.
        yield* newLeaderOf("OTHERS")

        // Creating the stream elected its first leader: only what follows counts.
        const logged = elected("ORDERS").length
        const after = yield* newLeaderOf("ORDERS")
        const lines = yield* poll(
          Effect.sync(() => elected("ORDERS").slice(logged)),
          (lines) => lines.length > 0,
          "the election logged"
        )
        expect(lines).toEqual([{
          level: "INFO",
          message: expect.stringMatching(new RegExp(`^Bus: stream ORDERS has a new leader: ${after}; replicas `))
        }])
        expect(elected("OTHERS")).toEqual([])
      }).pipe(Effect.provide(logs.layer))
    },
    180_000
  )
})

describe("BusConfig nats.servers", () => {
  const reading = (servers: string) =>
    Effect.withConfigProvider(
      BusConfig.config,
      GlamConfig.provider(GlamConfig.fromObject({ service: { name: "x" }, nats: { servers } }))
    )

  it.effect("takes nats://, tls:// and host:port servers", () =>
    Effect.gen(function*() {
      const config = yield* reading("nats://n1:4222,tls://n2:4222,n3:4222,NATS://n4:4222")
      expect(config.servers).toEqual(["nats://n1:4222", "tls://n2:4222", "n3:4222", "NATS://n4:4222"])
    }))

  it.effect("refuses a server of another scheme, naming the key, its entry and the scheme, without its password", () =>
    Effect.gen(function*() {
      for (const scheme of ["http", "postgres", "redis"]) {
        const error = yield* Effect.flip(reading(`nats://n1:4222,${scheme}://app:hunter2@127.0.0.1:4222`))
        const message = GlamConfig.formatConfigError(error)
        expect(message).toContain("nats.servers")
        expect(message).toContain(`${scheme}://`)
        expect(message).toContain("nats://")
        expect(message).toContain("[1]")
        expect(message).not.toContain("hunter2")
      }
    }))

  it.effect("reads nats.dead_letter_body: keep by default, omit when set, another value refused naming the key", () =>
    Effect.gen(function*() {
      const read = (nats: { readonly [key: string]: string }) =>
        Effect.withConfigProvider(
          BusConfig.config,
          GlamConfig.provider(GlamConfig.fromObject({ service: { name: "x" }, nats }))
        )
      expect((yield* read({})).deadLetterBody).toBe("keep")
      expect((yield* read({ dead_letter_body: "omit" })).deadLetterBody).toBe("omit")
      const error = yield* Effect.flip(read({ dead_letter_body: "drop" }))
      expect(GlamConfig.formatConfigError(error)).toContain("nats.dead_letter_body")
    }))
})

describe("Bus on an address that accepts connections but is not NATS", () => {
  it.live("fails startup within nats.connect_timeout, naming the server and the key", () =>
    Effect.gen(function*() {
      // A server that accepts the connection and never answers, as another service's port does for NATS.
      const sockets = new Set<net.Socket>()
      const silent = yield* Effect.acquireRelease(
        Effect.async<net.Server>((resume) => {
          const server = net.createServer((socket) => sockets.add(socket))
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) =>
          Effect.async<void>((resume) => {
            server.close(() => resume(Effect.void))
            for (const socket of sockets) socket.destroy()
          })
      )
      const port = (silent.address() as net.AddressInfo).port
      const config = yield* Effect.withConfigProvider(
        BusConfig.config,
        GlamConfig.provider(GlamConfig.fromObject({
          service: { name: "x" },
          nats: { servers: `127.0.0.1:${port}`, connect_timeout: "1 second" }
        }))
      )
      expect(config.connectTimeout).toEqual(Duration.seconds(1))
      const error = yield* Effect.flip(Effect.scoped(Layer.build(JetStream.layer({ ...config, ensureStreams: false }))))
      expect(error._tag).toBe("MessageBusError")
      expect(error.message).toBe(
        `Cannot connect to NATS at 127.0.0.1:${port}: no NATS answer within 1s (nats.connect_timeout): is it a NATS ` +
          "server's address?"
      )
    }).pipe(Effect.scoped))
})

describe.skipIf(!natsServerFound)("Bus on a test-owned nats-server without JetStream", () => {
  it.live("fails startup naming the server and how to enable JetStream", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const server = serverProcess(toolPath("nats-server"), ["-a", "127.0.0.1", "-p", String(port)], port)
      yield* Effect.acquireRelease(Effect.promise(server.start), () => Effect.promise(server.stop))
      const error = yield* Effect.flip(
        Effect.scoped(Layer.build(JetStream.layer(options([`nats://127.0.0.1:${port}`], { ensureStreams: false }))))
      )
      expect(error._tag).toBe("MessageBusError")
      expect(error.message).toContain(`127.0.0.1:${port}`)
      expect(error.message).toContain("-js")
    }).pipe(Effect.scoped))
})
