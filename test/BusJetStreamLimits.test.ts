/**
 * The Bus against a JetStream at its limits. On the shared nats-server, with streams of the test's own: a stream that
 * discards new messages at its `max_msgs`, `max_bytes` or `max_msgs_per_subject` refuses a publish with a retryable
 * `MessageBusError` saying the stream is full (nothing stored, nothing retried within the publish), and the publish
 * goes through once the stream has room; a handler publishing to such a stream has its message delivered again, not
 * dead-lettered. A sealed stream refuses a publish, not retryable. On nats-servers of the test's own: an account
 * whose JetStream storage is used up refuses alike; an account at its `max_streams` or `max_consumers` fails startup
 * or `Bus.subscribe` naming the limit, and a running subscription whose durable was deleted makes it again once the
 * account has room for it; an account without JetStream, or a server without it, fails startup saying so;
 * a replay whose `DLQ` record cannot be deleted (`deny_delete`) is stored, and reported as not to be replayed again;
 * a message whose dead letter a full `DLQ` refuses is nak'd and logged, and dead-lettered once `DLQ` has room.
 */
import { describe, expect, it } from "@effect/vitest"
import { AckPolicy, jetstreamManager, type StreamConfig } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Cause, Duration, Effect, Layer, Logger, Option, Redacted, Ref, Schema } from "effect"
import * as Bus from "../src/Bus/Bus.js"
import { JetStream } from "../src/Bus/index.js"
import { MessageBusError, NotFoundError } from "../src/Errors/index.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as Streams from "../src/Events/Streams.js"
import { unique } from "./fixtures/bus/conformance.js"
import { jetStreamOptions, withJsm } from "./support/busJetStream.js"
import { eventually } from "./support/eventually.js"
import { freePort } from "./support/localService.js"
import { serverProcess, startNatsServerWith } from "./support/natsServer.js"
import { serviceAvailable, services } from "./support/services.js"
import { toolAvailable, toolPath } from "./support/tools.js"

const natsUp = await serviceAvailable("nats")
const natsServerFound = toolAvailable("nats-server")
const url = `nats://${services.nats.host}:${services.nats.port}`

const options = (servers: string, extra?: Partial<JetStream.JetStreamOptions>): JetStream.JetStreamOptions =>
  jetStreamOptions("bus-jetstream-limits-test", servers, extra)

/**
 * A stream of the test's own on `servers`, made with `config` before a Bus sees it (deleted when the scope closes),
 * and a `job` event `{ n }` on it.
 */
const limitedStream = (servers: string, name: string, config: Partial<StreamConfig>) =>
  Effect.gen(function*() {
    const suffix = unique(name).replace(/[^a-z0-9]/gi, "").toLowerCase()
    const stream = Streams.make(`LIMD${name}_${suffix}`.toUpperCase(), { domain: `limd${name}${suffix}` })
    const Def = EventDefinition.event(`${stream.domain}.job`, Schema.Struct({ n: Schema.Number }), { stream })
    yield* Effect.acquireRelease(
      withJsm(servers, (jsm) => jsm.streams.add({ name: stream.name, subjects: [...stream.subjects], ...config })),
      () => withJsm(servers, (jsm) => jsm.streams.delete(stream.name).catch(() => false))
    )
    return { Def, stream }
  })

const stored = (servers: string, name: string) =>
  withJsm(servers, (jsm) => jsm.streams.info(name).then((i) => i.state.messages))

/** The refusal of a full stream or store, as the Bus gives it. */
const expectNoRoom = (error: unknown, subject: string, answer: string) => {
  expect(error).toBeInstanceOf(MessageBusError)
  const e = error as MessageBusError
  expect(e.message).toContain(`Publish to ${subject} refused: `)
  expect(e.message).toContain(answer)
  expect(e.message).toContain("nothing was stored")
  expect(e.retryable).toBe(true)
  expect(e.details).toMatchObject({ operation: "publish", subject })
}

describe.skipIf(!natsUp)("Bus on JetStream: a stream at its limits", () => {
  it.scopedLive("at max_msgs: refused as a full stream, retryable, nothing stored; taken once it has room", () =>
    Effect.gen(function*() {
      const { Def, stream } = yield* limitedStream(url, "msgs", {
        max_msgs: 1,
        discard: "new" as StreamConfig["discard"]
      })
      // The default retry budget (30 s): a full stream is not retried within the publish.
      const ctx = yield* Layer.build(JetStream.layer(options(url, { streamDefinitions: [stream] })))
      yield* Bus.publish(Def, { n: 1 }).pipe(Effect.provide(ctx))
      const error = yield* Effect.flip(Bus.publish(Def, { n: 2 }).pipe(Effect.provide(ctx)))
      expectNoRoom(error, Def.subject, "its stream is full (maximum messages exceeded")
      const encoded = yield* Effect.flip(
        Bus.publishEncoded({ subject: Def.subject, body: "{}", msgId: unique("encoded") }).pipe(Effect.provide(ctx))
      )
      expectNoRoom(encoded, Def.subject, "its stream is full (maximum messages exceeded")
      expect(yield* stored(url, stream.name)).toBe(1)

      yield* withJsm(url, (jsm) => jsm.streams.purge(stream.name))
      const ack = yield* Bus.publish(Def, { n: 2 }).pipe(Effect.provide(ctx))
      expect(ack.stream).toBe(stream.name)
      expect(yield* stored(url, stream.name)).toBe(1)
    }))

  it.scopedLive("at max_bytes and at max_msgs_per_subject (discard_new_per_subject): refused alike", () =>
    Effect.gen(function*() {
      // A stream in memory: nats-server 2.9.10's file store drops old messages at max_bytes even with discard new.
      const bytes = yield* limitedStream(url, "bytes", {
        max_bytes: 600,
        discard: "new" as StreamConfig["discard"],
        storage: "memory" as StreamConfig["storage"]
      })
      const perSubject = yield* limitedStream(url, "persubject", {
        max_msgs_per_subject: 1,
        discard: "new" as StreamConfig["discard"],
        discard_new_per_subject: true
      })
      const ctx = yield* Layer.build(
        JetStream.layer(options(url, { streamDefinitions: [bytes.stream, perSubject.stream] }))
      )
      const bytesError = yield* Bus.publish(bytes.Def, { n: 1 }).pipe(
        Effect.provide(ctx),
        Effect.repeat({ until: () => false, times: 20 }),
        Effect.flip
      )
      expectNoRoom(bytesError, bytes.Def.subject, "its stream is full (maximum bytes exceeded")

      yield* Bus.publish(perSubject.Def, { n: 1 }).pipe(Effect.provide(ctx))
      const perSubjectError = yield* Effect.flip(Bus.publish(perSubject.Def, { n: 2 }).pipe(Effect.provide(ctx)))
      expectNoRoom(perSubjectError, perSubject.Def.subject, "its stream is full (maximum messages per subject exceeded")
      // Another subject of the stream has room.
      const other = yield* Bus.publishEncoded({
        subject: `evt.${perSubject.stream.domain}.other`,
        body: "{}",
        msgId: unique("other")
      }).pipe(Effect.provide(ctx))
      expect(other.stream).toBe(perSubject.stream.name)
    }))

  it.scopedLive("a sealed stream: a publish is refused in the server's words, not retryable, nothing stored", () =>
    Effect.gen(function*() {
      const { Def, stream } = yield* limitedStream(url, "sealed", {})
      const ctx = yield* Layer.build(JetStream.layer(options(url, { streamDefinitions: [stream] })))
      yield* Bus.publish(Def, { n: 1 }).pipe(Effect.provide(ctx))
      yield* withJsm(url, async (jsm) => {
        const info = await jsm.streams.info(stream.name)
        await jsm.streams.update(stream.name, { ...info.config, sealed: true } as Partial<StreamConfig>)
      })
      const error = yield* Effect.flip(Bus.publish(Def, { n: 2 }).pipe(Effect.provide(ctx)))
      expect(error).toBeInstanceOf(MessageBusError)
      expect(error.message).toBe(`Publish to ${Def.subject} failed: invalid operation on sealed stream`)
      expect(error.retryable).toBe(false)
      expect(yield* stored(url, stream.name)).toBe(1)
    }))

  it.scopedLive("a handler publishing to a full stream: its message is delivered again, not dead-lettered", () =>
    Effect.gen(function*() {
      const source = yield* limitedStream(url, "source", {})
      const { Def: Full, stream: full } = yield* limitedStream(url, "full", {
        max_msgs: 1,
        discard: "new" as StreamConfig["discard"]
      })
      const ctx = yield* Layer.build(JetStream.layer(options(url, { streamDefinitions: [source.stream, full] })))
      yield* Bus.publish(Full, { n: 0 }).pipe(Effect.provide(ctx))
      const attempts = yield* Ref.make(0)
      const durable = unique("fullhandler")
      yield* Bus.subscribe(
        source.Def,
        { durable, backoff: ["100 millis"], maxDeliver: 1000 },
        (event) => Effect.zipRight(Ref.update(attempts, (n) => n + 1), Bus.publish(Full, { n: event.payload.n }))
      ).pipe(Effect.provide(ctx))
      yield* Bus.publish(source.Def, { n: 7 }).pipe(Effect.provide(ctx))

      yield* eventually(Ref.get(attempts), (n) => n >= 2, "the handler's message delivered again")
      yield* withJsm(url, (jsm) => jsm.streams.purge(full.name))
      yield* eventually(stored(url, full.name), (n) => n === 1, "the handler's publish stored once the stream had room")
      const letters = yield* Bus.deadLetters({ stream: source.stream.name, consumer: durable }).pipe(
        Effect.provide(ctx)
      )
      expect(letters).toHaveLength(0)
    }))
})

/** A nats-server of the test's own with `accounts` (a configuration block), stopped when the scope closes. */
const serverWithAccounts = (accounts: string) =>
  Effect.acquireRelease(
    Effect.promise(() => startNatsServerWith([], { config: `accounts {\n${accounts}\n}\n` })),
    (s) => Effect.promise(() => s.dispose())
  )

const as = (user: string): Partial<JetStream.JetStreamOptions> => ({
  user: Option.some(user),
  password: Option.some(Redacted.make(user))
})

/**
 * A nats-server of the test's own whose account LIM (user and password `lim`) has the JetStream `limits`, a stream
 * `name` with its `job` event `{ n }`, and the layer of a Bus of LIM declaring it.
 */
const limitedAccount = (limits: string, name: string) =>
  Effect.map(
    serverWithAccounts(`LIM: { jetstream: { ${limits} }, users: [{ user: lim, password: lim }] }`),
    (server) => {
      const stream = Streams.make(name, { domain: name.toLowerCase() })
      const Def = EventDefinition.event(`${stream.domain}.job`, Schema.Struct({ n: Schema.Number }), { stream })
      const layer = JetStream.layer(options(server.url, { streamDefinitions: [stream], ...as("lim") }))
      return { server, stream, Def, layer }
    }
  )

/** Runs `f` with a JetStream manager of the account LIM (user and password `lim`) on `servers`. */
const asLim = <A>(servers: string, f: (jsm: Awaited<ReturnType<typeof jetstreamManager>>) => Promise<A>) =>
  Effect.promise(async () => {
    const nc = await connect({ servers, user: "lim", pass: "lim" })
    try {
      return await f(await jetstreamManager(nc))
    } finally {
      await nc.close()
    }
  })

describe.skipIf(!natsServerFound)("Bus on JetStream: the account's JetStream limits", () => {
  it.scopedLive("an account at max_streams: startup fails naming the stream it cannot make", () =>
    Effect.gen(function*() {
      const { layer } = yield* limitedAccount("max_streams: 1", "LIMDSTREAMS")
      const error = yield* Effect.flip(Layer.build(layer))
      expect(error).toBeInstanceOf(MessageBusError)
      expect(error.message).toMatch(/^Cannot create stream (LIMDSTREAMS|DLQ) \(.*\): maximum number of streams reached/)
      expect(error.retryable).toBe(false)
      expect(error.details).toMatchObject({ operation: "ensure_stream" })
    }))

  it.scopedLive("an account at max_consumers: Bus.subscribe fails naming its durable", () =>
    Effect.gen(function*() {
      const { Def, layer, server, stream } = yield* limitedAccount("max_consumers: 1", "LIMDCONSUMERS")
      const ctx = yield* Layer.build(layer)
      yield* asLim(
        server.url,
        (jsm) => jsm.consumers.add(stream.name, { durable_name: "other", ack_policy: AckPolicy.Explicit })
      )
      const error = yield* Effect.flip(
        Bus.subscribe(Def, { durable: "limited" }, () => Effect.void).pipe(Effect.provide(ctx))
      )
      expect(error).toBeInstanceOf(MessageBusError)
      expect(error.message).toContain(
        "Cannot create consumer limited on LIMDCONSUMERS: maximum consumers limit reached"
      )
      expect(error.retryable).toBe(false)
      expect(error.details).toMatchObject({ operation: "subscribe", stream: stream.name, subject: Def.subject })
    }))

  it.scopedLive("a durable deleted while the account is at max_consumers: made again once there is room", () =>
    Effect.gen(function*() {
      const { Def, layer, server, stream } = yield* limitedAccount("max_consumers: 1", "LIMDREMAKE")
      // The lines logged, with their causes.
      const lines: Array<string> = []
      const logs = {
        layer: Logger.add(Logger.make(({ cause, message }) => {
          lines.push(`${[message].flat().join(" ")} ${Cause.pretty(cause)}`)
        }))
      }
      const ctx = yield* Layer.build(Layer.merge(layer, logs.layer))
      const handled = yield* Ref.make<ReadonlyArray<number>>([])
      yield* Bus.subscribe(Def, { durable: "remade" }, (event) => Ref.update(handled, (ns) => [...ns, event.payload.n]))
        .pipe(Effect.provide(ctx), Effect.provide(logs.layer))
      yield* Bus.publish(Def, { n: 1 }).pipe(Effect.provide(ctx))
      yield* eventually(Ref.get(handled), (ns) => ns.length === 1, "the first message handled")
      // The durable deleted from outside, and its place taken by another consumer.
      yield* asLim(server.url, async (jsm) => {
        await jsm.consumers.delete(stream.name, "remade")
        await jsm.consumers.add(stream.name, { durable_name: "other", ack_policy: AckPolicy.Explicit })
      })
      yield* Bus.publish(Def, { n: 2 }).pipe(Effect.provide(ctx))
      yield* eventually(
        Effect.sync(() =>
          lines.filter((l) =>
            l.includes("Bus consumer fetch failed; retrying") &&
            l.includes("Cannot create consumer remade on LIMDREMAKE: maximum consumers limit reached")
          )
        ),
        (lines) => lines.length > 0,
        "the refused remake logged"
      )
      yield* asLim(server.url, (jsm) => jsm.consumers.delete(stream.name, "other"))
      yield* eventually(Ref.get(handled), (ns) => ns.includes(2), "the message published meanwhile handled", 60_000)
    }))

  it.scopedLive("an account whose JetStream storage is used up: a publish is refused as no room, retryable", () =>
    Effect.gen(function*() {
      const { Def, layer } = yield* limitedAccount("max_file: 4096, max_mem: 4096", "LIMDSTORE")
      const ctx = yield* Layer.build(layer)
      const error = yield* Bus.publish(Def, { n: 1 }).pipe(
        Effect.provide(ctx),
        Effect.repeat({ until: () => false, times: 200 }),
        Effect.flip
      )
      expectNoRoom(error, Def.subject, "JetStream has no room for it (resource limits exceeded for account)")
    }))

  it.scopedLive("an account without JetStream: startup fails saying so, not retryable", () =>
    Effect.gen(function*() {
      const server = yield* serverWithAccounts("NOJS: { users: [{ user: nojs, password: nojs }] }")
      const error = yield* Effect.flip(Layer.build(JetStream.layer(options(server.url, as("nojs")))))
      expect(error).toBeInstanceOf(MessageBusError)
      expect(error.message).toContain("JetStream is not enabled for the account the Bus connects as on the NATS server")
      expect(error.message).toContain("jetstream: enabled")
      expect(error.retryable).toBe(false)
      expect(error.details).toMatchObject({ operation: "connect" })
    }))

  it.scopedLive("a server without JetStream: startup fails saying how to enable it", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      yield* Effect.acquireRelease(
        Effect.sync(() => serverProcess(toolPath("nats-server"), ["-a", "127.0.0.1", "-p", String(port)], port)).pipe(
          Effect.tap((s) => Effect.promise(s.start))
        ),
        (s) => Effect.promise(s.stop)
      )
      const error = yield* Effect.flip(
        Layer.build(JetStream.layer(options(`nats://127.0.0.1:${port}`, { connectTimeout: Duration.seconds(5) })))
      )
      expect(error).toBeInstanceOf(MessageBusError)
      expect(error.message).toContain("JetStream is not enabled on the NATS server at")
      expect(error.message).toContain("start nats-server with -js")
      expect(error.details).toMatchObject({ operation: "connect" })
    }))
})

describe.skipIf(!natsServerFound)("Bus on JetStream: a DLQ at its limits", () => {
  it.scopedLive("a replay is stored, and its kept record is reported as not to be replayed again", () =>
    Effect.gen(function*() {
      const server = yield* Effect.acquireRelease(
        Effect.promise(() => startNatsServerWith([])),
        (s) => Effect.promise(() => s.dispose())
      )
      yield* withJsm(server.url, (jsm) => jsm.streams.add({ name: "DLQ", subjects: ["dlq.>"], deny_delete: true }))
      const stream = Streams.make("LIMDREPLAY", { domain: "limdreplay" })
      const Def = EventDefinition.event("limdreplay.job", Schema.Struct({ n: Schema.Number }), { stream })
      const ctx = yield* Layer.build(JetStream.layer(options(server.url, { streamDefinitions: [stream] })))
      const failing = yield* Ref.make(true)
      const handled = yield* Ref.make(0)
      yield* Bus.subscribe(Def, { durable: "replayed" }, () =>
        Effect.flatMap(Ref.get(failing), (fail) =>
          fail
            ? Effect.fail(new NotFoundError({ message: "no such job", details: { resource: "job" } }))
            : Ref.update(handled, (n) => n + 1))).pipe(Effect.provide(ctx))
      yield* Bus.publish(Def, { n: 1 }).pipe(Effect.provide(ctx))
      const [letter] = yield* eventually(
        Bus.deadLetters({ stream: stream.name }).pipe(Effect.provide(ctx)),
        (letters) => letters.length === 1,
        "the dead letter"
      )
      yield* Ref.set(failing, false)

      const replay = yield* Bus.replayDeadLetters({ stream: stream.name }).pipe(Effect.provide(ctx))
      expect(replay.replayed).toEqual([])
      expect(replay.failed).toHaveLength(1)
      const { error } = replay.failed[0]!
      expect(error.message).toBe(
        `Dead letter ${letter!.dlqSequence} was replayed (stored in LIMDREPLAY as #2), but its record was not ` +
          `deleted: Cannot delete DLQ #${letter!.dlqSequence}: message delete not permitted. Replaying it again ` +
          `would publish the message again: delete the record (DLQ #${letter!.dlqSequence}) instead`
      )
      expect(error.retryable).toBe(false)
      expect(error.details).toMatchObject({ operation: "replay", stream: stream.name, subject: Def.subject })
      yield* eventually(Ref.get(handled), (n) => n === 1, "the replayed message handled")
      expect(yield* stored(server.url, "DLQ")).toBe(1)
    }))

  it.scopedLive("a full DLQ: the message is nak'd and logged, not lost, and dead-lettered once DLQ has room", () =>
    Effect.gen(function*() {
      const server = yield* Effect.acquireRelease(
        Effect.promise(() => startNatsServerWith([])),
        (s) => Effect.promise(() => s.dispose())
      )
      yield* withJsm(server.url, async (jsm) => {
        await jsm.streams.add({
          name: "DLQ",
          subjects: ["dlq.>"],
          max_msgs: 1,
          discard: "new" as StreamConfig["discard"]
        })
      })
      // DLQ holds one record already.
      yield* withJsm(server.url, (jsm) => jsm.jetstream().publish("dlq.OTHER.consumer", "{}"))
      const stream = Streams.make("LIMDFULLDLQ", { domain: "limdfulldlq" })
      const Def = EventDefinition.event("limdfulldlq.job", Schema.Struct({ n: Schema.Number }), { stream })
      const lines: Array<string> = []
      const logged = Logger.add(Logger.make(({ annotations, message }) => {
        lines.push(`${[message].flat().join(" ")} ${JSON.stringify(Object.fromEntries(annotations))}`)
      }))
      const ctx = yield* Layer.build(
        Layer.merge(JetStream.layer(options(server.url, { streamDefinitions: [stream] })), logged)
      )
      yield* Bus.subscribe(
        Def,
        { durable: "fulldlq", backoff: ["100 millis"], maxDeliver: 1000 },
        () => Effect.fail(new NotFoundError({ message: "no such job", details: { resource: "job" } }))
      ).pipe(Effect.provide(ctx), Effect.provide(logged))
      yield* Bus.publish(Def, { n: 1 }).pipe(Effect.provide(ctx))
      const refused = yield* eventually(
        Effect.sync(() => lines.filter((l) => l.includes("Bus could not write a dead letter; message nak'd"))),
        (found) => found.length >= 2,
        "the refused dead letter logged, and the message delivered again"
      )
      expect(refused[0]).toContain("its stream is full (maximum messages exceeded")
      yield* withJsm(server.url, (jsm) => jsm.streams.purge("DLQ"))
      const letters = yield* eventually(
        Bus.deadLetters({ stream: stream.name }).pipe(Effect.provide(ctx)),
        (found) => found.length === 1,
        "the dead letter written once DLQ had room"
      )
      expect(letters[0]!.error.code).toBe("NOT_FOUND")
    }))
})
