/**
 * The JetStream subscription's own pull requests (`jetStreamPull.ts`) on servers of the test's own, each recovery
 * path told apart from the subscriber's generic retry (which logs `Bus consumer fetch failed; retrying` with the
 * session's `Fetch from <durable> failed: ...`, then looks the durable up again): a reconnect after the server was
 * killed goes on through a new inbox with no fetch failure; requests that vanish without a status end the session
 * after two heartbeats and the retry pulls on; a consumer leader step-down is answered with `409 Leadership Change`
 * and the requests are issued again, with no fetch failure. And the messages a session holds beyond the buffer's
 * room have their ack wait extended as the buffered ones do.
 */
import { describe, expect, it } from "@effect/vitest"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Cause, Duration, Effect, Fiber, Layer, Logger, Option, Schema } from "effect"
import * as Bus from "../src/Bus/Bus.js"
import { BusConfig, DeadLetter, JetStream } from "../src/Bus/index.js"
import * as core from "../src/Bus/internal/core.js"
import * as JetStreamEngine from "../src/Bus/internal/jetStreamEngine.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as Streams from "../src/Events/Streams.js"
import { withExtraRoom } from "./support/busEngine.js"
import { type NatsCluster, newLeader, startNatsCluster } from "./support/natsCluster.js"
import { type NatsServer, startNatsServer } from "./support/natsServer.js"
import { toolAvailable } from "./support/tools.js"

const natsServerFound = toolAvailable("nats-server")
let counter = 0
const unique = (prefix: string) => `${prefix}_${Date.now().toString(36)}_${(counter++).toString(36)}`

const options = (
  servers: ReadonlyArray<string>,
  extra?: Partial<JetStream.JetStreamOptions>
): JetStream.JetStreamOptions => ({
  servers,
  user: Option.none(),
  password: Option.none(),
  token: Option.none(),
  serviceName: "bus-jetstream-pull-test",
  appEnv: "test",
  streams: BusConfig.defaultStreamLimits,
  publishTimeout: Duration.seconds(2),
  publishRetryBudget: Duration.minutes(1),
  ownStreams: Option.none(),
  ensureStreams: true,
  ...extra
})

/** Polls `check` every 100 ms until `ok` holds; dies naming `what` after a minute (a loaded machine is slow). */
const waitUntil = <A, E, R>(check: Effect.Effect<A, E, R>, ok: (a: A) => boolean, what: string) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline) {
      const a = yield* check
      if (ok(a)) return a
      yield* Effect.sleep("100 millis")
    }
    return yield* Effect.dieMessage(`timed out waiting for ${what}`)
  })

/** The lines logged while the returned layer is provided, each with the text of its cause (if any). */
const captureLogs = () => {
  const lines: Array<{ readonly level: string; readonly message: string; readonly cause: string }> = []
  const layer = Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ cause, logLevel, message }) => {
      lines.push({
        level: logLevel.label,
        message: Array.isArray(message) ? message.join(" ") : String(message),
        cause: Cause.isEmpty(cause) ? "" : Cause.pretty(cause)
      })
    })
  )
  // What the subscriber logs when a pull session fails into its retry.
  const fetchFailures = (durable: string) =>
    lines.filter((l) =>
      l.message === "Bus consumer fetch failed; retrying" && l.cause.includes(`Fetch from ${durable}`)
    )
  return { lines, layer, fetchFailures }
}

const natsServer = Effect.acquireRelease(
  Effect.promise(startNatsServer),
  (s: NatsServer) => Effect.promise(() => s.dispose())
)

/** An event `<domain>.job` with payload `{ n }` on a stream of its own, and a JetStream Bus on `servers` declaring it. */
const busOn = (servers: ReadonlyArray<string>, name: string, extra?: Partial<JetStream.JetStreamOptions>) =>
  Effect.gen(function*() {
    const stream = Streams.make(name.toUpperCase(), { domain: name.toLowerCase() })
    const Def = EventDefinition.event(`${stream.domain}.job`, Schema.Struct({ n: Schema.Number }), { stream })
    const ctx = yield* Layer.build(JetStream.layer(options(servers, { streamDefinitions: [stream], ...extra })))
    return { Def, ctx, stream }
  })

/** A subscription recording each handled `n` with its delivery count. */
const recorded = () => {
  const handled: Array<{ readonly n: number; readonly deliveryCount: number }> = []
  const handler = (event: { readonly payload: { readonly n: number }; readonly delivery: Bus.Delivery }) =>
    Effect.sync(() => {
      handled.push({ n: event.payload.n, deliveryCount: event.delivery.deliveryCount })
    })
  const all = (ns: ReadonlyArray<number>) =>
    waitUntil(
      Effect.sync(() => new Set(handled.map((h) => h.n))),
      (seen) => ns.every((n) => seen.has(n)),
      `messages ${ns.join(", ")} to be handled`
    )
  // A message handled more than once was redelivered (JetStream's at-least-once), never handed over twice. Counted
  // for messages from `from` on.
  const twiceOnFirstDelivery = (from = 0) => {
    const first = handled.filter((h) => h.deliveryCount === 1 && h.n >= from).map((h) => h.n)
    return first.filter((n, i) => first.indexOf(n) !== i)
  }
  return { handled, handler, all, twiceOnFirstDelivery }
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)

describe.skipIf(!natsServerFound)("Bus pulling from a test-owned nats-server", () => {
  it.scopedLive(
    "a server killed and started again on its store: the subscription pulls on through the reconnect, with no fetch failure",
    () => {
      const logs = captureLogs()
      return Effect.gen(function*() {
        const server = yield* natsServer
        const { Def, ctx } = yield* busOn([server.url], "PULLRECONNECT")
        const durable = unique("reconnect")
        const record = recorded()
        yield* Bus.subscribe(Def, { durable, batchSize: 4 }, record.handler).pipe(Effect.provide(ctx))
        const publish = (ns: ReadonlyArray<number>) =>
          Effect.forEach(ns, (n) => Bus.publish(Def, { n }), { discard: true }).pipe(Effect.provide(ctx))
        yield* publish(range(0, 5))
        yield* record.all(range(0, 5))

        yield* Effect.promise(() => server.kill())
        yield* waitUntil(Bus.health.pipe(Effect.provide(ctx)), (h) => !h.healthy, "the Bus to see the server go")
        // Published into the outage: the publishes wait for the reconnect.
        const duringOutage = yield* Effect.fork(publish(range(5, 10)))
        yield* Effect.promise(() => server.start())
        yield* waitUntil(Bus.health.pipe(Effect.provide(ctx)), (h) => h.healthy, "the Bus to reconnect")
        yield* Fiber.join(duringOutage)
        yield* publish(range(10, 15))
        yield* record.all(range(0, 15))

        expect(logs.lines.filter((l) => l.message.startsWith("Bus: NATS reconnected to"))).toHaveLength(1)
        // The session went on through its reconnect path (a new inbox, new requests), not through a failure: the
        // requests of the killed server were gone, and the old inbox kept would have ended in the heartbeat failure.
        expect(logs.fetchFailures(durable)).toEqual([])
        // Messages 0-4 may come again as first deliveries: the killed server may not have received their acks, or
        // not have written its consumer's state to its store before the SIGKILL (seen on nats-server 2.10). The
        // messages published after the kill are delivered by the started server alone.
        expect(record.twiceOnFirstDelivery(5)).toEqual([])
      }).pipe(Effect.provide(logs.layer))
    },
    180_000
  )

  it.scopedLive(
    "a server that stops answering: the session fails once two heartbeats are missed, and the retry pulls on",
    () => {
      const logs = captureLogs()
      return Effect.gen(function*() {
        const server = yield* natsServer
        const { Def, ctx } = yield* busOn([server.url], "PULLHEARTBEAT")
        const durable = unique("heartbeat")
        const record = recorded()
        yield* Bus.subscribe(Def, { durable, batchSize: 4 }, record.handler).pipe(Effect.provide(ctx))
        yield* Bus.publish(Def, { n: 0 }).pipe(Effect.provide(ctx))
        yield* record.all([0])

        // Stopped (not killed): the connection stays up (the client pings every 10 s, and gives up after two
        // unanswered), but the waiting request's heartbeats stop, as when the server lost the request.
        const pid = server.pid()!
        yield* Effect.acquireRelease(
          Effect.sync(() => process.kill(pid, "SIGSTOP")),
          () => Effect.sync(() => process.kill(pid, "SIGCONT")).pipe(Effect.ignore)
        )
        const failures = yield* waitUntil(
          Effect.sync(() => logs.fetchFailures(durable)),
          (f) => f.length > 0,
          "the session to fail"
        )
        process.kill(pid, "SIGCONT")
        expect(failures[0]!.cause).toContain(
          `Fetch from ${durable} failed: the server sent no heartbeat for the pull requests (they are gone)`
        )
        expect(logs.lines.filter((l) => l.message === "Bus: NATS connection lost")).toEqual([])

        yield* Effect.forEach(range(1, 6), (n) => Bus.publish(Def, { n }), { discard: true }).pipe(
          Effect.provide(ctx)
        )
        yield* record.all(range(0, 6))
        expect(record.twiceOnFirstDelivery()).toEqual([])
      }).pipe(Effect.provide(logs.layer))
    },
    180_000
  )
})

describe.skipIf(!natsServerFound)("Bus pulling beyond its buffer from a test-owned nats-server", () => {
  it.scopedLive(
    "messages the pull session holds beyond the buffer's room wait with their ack wait extended: each delivered once",
    () =>
      Effect.gen(function*() {
        const server = yield* natsServer
        const stream = Streams.make("PULLOVERFLOW", { domain: "pulloverflow" })
        const Def = EventDefinition.event(`${stream.domain}.job`, Schema.Struct({ n: Schema.Number }), { stream })
        // The session is told of 6 places more than the buffer's 2: it claims 8, and holds what the buffer refuses,
        // as it does when a request it gave up on delivers after all.
        const bus = yield* JetStreamEngine.makeEngine(options([server.url])).pipe(
          Effect.flatMap((engine) =>
            core.make(withExtraRoom(engine, 6), {
              serviceName: "bus-jetstream-pull-test",
              ownStreams: Option.none(),
              publishRetryBudget: Duration.seconds(10),
              declaration: { streams: [stream, DeadLetter.stream], atStartup: [stream, DeadLetter.stream] },
              ensureStreams: true
            })
          )
        )
        const count = 10
        yield* Effect.forEach(range(0, count), (n) => bus.publish(Def, { n }), { discard: true })
        const durable = unique("overflow")
        const record = recorded()
        // One handler at a time, 1 s each: the last held messages wait about 7 s for a worker, past the 4 s ack wait.
        yield* bus.subscribe(
          Def,
          { durable, ackWait: "4 seconds", concurrency: 1, batchSize: 2 },
          (event) => Effect.zipRight(record.handler(event), Effect.sleep("1 second"))
        )
        yield* record.all(range(0, count))
        const info = yield* waitUntil(
          Effect.promise(async () => {
            const nc = await connect({ servers: server.url })
            try {
              return await (await jetstreamManager(nc)).consumers.info(stream.name, durable)
            } finally {
              await nc.close()
            }
          }),
          (i) => i.ack_floor.stream_seq >= count && i.num_ack_pending === 0,
          "every message to be acked"
        )
        // The server's count of deliveries, redeliveries included, and what the handler saw.
        expect(info.delivered.consumer_seq).toBe(count)
        expect(record.handled.map((h) => h.n).sort((a, b) => a - b)).toEqual(range(0, count))
        expect(record.handled.every((h) => h.deliveryCount === 1)).toBe(true)
      }),
    180_000
  )
})

describe.skipIf(!natsServerFound)("Bus pulling from a test-owned three-node cluster", () => {
  const cluster = Effect.acquireRelease(
    Effect.promise(() => startNatsCluster()),
    (c: NatsCluster) => Effect.promise(() => c.dispose())
  )

  it.scopedLive(
    "a consumer leader step-down: the server answers the waiting request with 409 Leadership Change, and the session issues it again, with no fetch failure",
    () => {
      const logs = captureLogs()
      return Effect.gen(function*() {
        const nodes = yield* cluster
        const nc = yield* Effect.acquireRelease(
          Effect.promise(() => connect({ servers: [...nodes.urls] })),
          (nc) => Effect.promise(() => nc.close())
        )
        const jsm = yield* Effect.promise(() => jetstreamManager(nc))
        const { Def, ctx, stream } = yield* busOn(nodes.urls, "PULLLEADER", {
          streams: { ...BusConfig.defaultStreamLimits, replicas: 3 }
        })
        const durable = unique("leader")
        const record = recorded()
        yield* Bus.subscribe(Def, { durable, batchSize: 4 }, record.handler).pipe(Effect.provide(ctx))
        yield* Bus.publish(Def, { n: 0 }).pipe(Effect.provide(ctx))
        yield* record.all([0])
        const info = Effect.promise(() =>
          jsm.consumers.info(stream.name, durable).then(Option.some, () => Option.none())
        )
        yield* waitUntil(
          info,
          (i) => Option.isSome(i) && i.value.num_waiting > 0 && i.value.cluster?.leader !== undefined,
          "a waiting pull request"
        )

        // What the server sends the waiting requests, seen on every inbox.
        const statuses: Array<string> = []
        nc.subscribe("_INBOX.>", {
          callback: (_, msg) => {
            const code = msg.headers?.code ?? 0
            if (code >= 400) statuses.push(`${code} ${msg.headers?.description ?? ""}`)
          }
        })
        yield* Effect.promise(() => nc.flush())
        yield* Effect.promise(() =>
          newLeader(
            nc,
            `$JS.API.CONSUMER.LEADER.STEPDOWN.${stream.name}.${durable}`,
            () => jsm.consumers.info(stream.name, durable).then((i) => i.cluster?.leader, () => undefined)
          )
        )
        yield* waitUntil(
          Effect.sync(() => statuses),
          (s) => s.includes("409 Leadership Change"),
          "the status of the waiting request"
        )

        yield* Effect.forEach(range(1, 6), (n) => Bus.publish(Def, { n }), { discard: true }).pipe(
          Effect.provide(ctx)
        )
        yield* record.all(range(0, 6))
        // Issued again at once: the heartbeat path (or any failure) would have gone through the retry.
        expect(logs.fetchFailures(durable)).toEqual([])
        expect(record.twiceOnFirstDelivery()).toEqual([])
      }).pipe(Effect.provide(logs.layer))
    },
    180_000
  )
})
