/**
 * The core NATS conformance suite (test/fixtures/bus/coreConformance.ts) in memory and on the real server, and what
 * only the server can refuse: a reply over its max_payload.
 */
import { expect, it } from "@effect/vitest"
import type { NatsConnectionImpl } from "@nats-io/nats-core/internal"
import { connect } from "@nats-io/transport-node"
import { ConfigProvider, Deferred, Duration, Effect, Fiber, Layer, Option, Schema } from "effect"
import { describe } from "vitest"
import * as CoreNats from "../src/Bus/CoreNats.js"
import * as NatsCoreTransport from "../src/Bus/internal/natsCoreTransport.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as Streams from "../src/Events/Streams.js"
import { coreConformance } from "./fixtures/bus/coreConformance.js"
import { eventually } from "./support/eventually.js"
import { serviceAvailable, services } from "./support/services.js"

describe("memory", () => {
  coreConformance({ name: "memory", layer: CoreNats.layerMemory({ serviceName: "core" }) })
})

const natsUp = await serviceAvailable("nats")

const url = `nats://${services.nats.host}:${services.nats.port}`
const natsLayer = CoreNats.layer({
  servers: [url],
  user: Option.none(),
  password: Option.none(),
  token: Option.none(),
  serviceName: "core"
})

/** The largest message the shared server takes. */
const serverMaxPayload = Effect.promise(async () => {
  const nc = await connect({ servers: url })
  const max = nc.info!.max_payload
  await nc.close()
  return max
})

describe.skipIf(!natsUp)("nats", () => {
  coreConformance({ name: "nats", layer: natsLayer })

  it.scopedLive("layerConfig connects from the nats section, and service.name and service.version", () =>
    Effect.gen(function*() {
      const prefix = `coreconf${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
      const stream = Streams.make(prefix.toUpperCase(), { domain: prefix })
      const Said = EventDefinition.event(`${prefix}.said`, Schema.Struct({ text: Schema.String }), { stream })
      const received = yield* Deferred.make<CoreNats.CoreReceived<{ readonly text: string }>>()
      yield* CoreNats.subscribe(Said, {}, (event) => Deferred.succeed(received, event))
      yield* CoreNats.publish(Said, { text: "hi" })
      const event = yield* Deferred.await(received)
      expect(event.payload).toStrictEqual({ text: "hi" })
      expect(event.envelope.metadata).toMatchObject({ source_service: "clinic-service", version: "2.3.4" })
    }).pipe(
      Effect.provide(CoreNats.layerConfig()),
      Effect.withConfigProvider(ConfigProvider.fromJson({
        service: { name: "clinic-service", version: "2.3.4" },
        nats: { servers: [url] }
      }))
    ))

  it.effect("layerConfig fails with the ConfigError of a bad nats section, naming the key", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(Layer.build(CoreNats.layerConfig())))
      expect(String(error)).toContain("nats.servers")
    }).pipe(Effect.withConfigProvider(ConfigProvider.fromJson({
      service: { name: "clinic-service" },
      nats: { servers: ["http://127.0.0.1:4222"] }
    }))))

  it.scopedLive("a reply over the server's max_payload is answered with an error, and the responder goes on", () =>
    Effect.gen(function*() {
      const maxPayload = yield* serverMaxPayload
      const prefix = `corebig${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
      const stream = Streams.make(prefix.toUpperCase(), { subjects: [`${prefix}.>`] })
      const Ask = EventDefinition.event(`${prefix}.ask`, Schema.Struct({ size: Schema.Int }), {
        verbatim: true,
        stream
      })
      const Answer = EventDefinition.event(`${prefix}.answer`, Schema.Struct({ text: Schema.String }), {
        verbatim: true,
        stream
      })
      yield* CoreNats.serve(Ask, Answer, {}, (event) => Effect.succeed({ text: "x".repeat(event.payload.size) }))
      const tooBig = yield* Effect.flip(CoreNats.request(Ask, { size: maxPayload }, Answer, { timeout: "10 seconds" }))
      expect(tooBig._tag).toBe("UpstreamServiceError")
      expect(tooBig.details).toMatchObject({ upstream_error: "INTERNAL_ERROR", upstream_status: 500 })
      const small = yield* CoreNats.request(Ask, { size: 3 }, Answer, { timeout: "10 seconds" })
      expect(small.payload).toStrictEqual({ text: "xxx" })
    }).pipe(Effect.provide(natsLayer)))

  it.scopedLive("a publish or request over the server's max_payload is a non-retryable MessageBusError", () =>
    Effect.gen(function*() {
      const maxPayload = yield* serverMaxPayload
      const prefix = `corebigout${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
      const stream = Streams.make(prefix.toUpperCase(), { subjects: [`${prefix}.>`] })
      const Say = EventDefinition.event(`${prefix}.say`, Schema.Struct({ text: Schema.String }), {
        verbatim: true,
        stream
      })
      yield* CoreNats.serve(Say, Say, {}, (event) => Effect.succeed(event.payload))
      const text = "x".repeat(maxPayload)
      const published = yield* Effect.flip(CoreNats.publish(Say, { text }))
      const requested = yield* Effect.flip(CoreNats.request(Say, { text }, Say, { timeout: "10 seconds" }))
      for (const error of [published, requested]) {
        expect(error._tag).toBe("MessageBusError")
        expect(error.message).toContain("max_payload")
        expect(error.retryable).toBe(false)
      }
      const small = yield* CoreNats.request(Say, { text: "hi" }, Say, { timeout: "10 seconds" })
      expect(small.payload).toStrictEqual({ text: "hi" })
    }).pipe(Effect.provide(natsLayer)))

  it.scopedLive("an interrupted request leaves no pending request in the client", () =>
    Effect.gen(function*() {
      const nc = yield* Effect.acquireRelease(
        Effect.promise(() => connect({ servers: url })),
        (nc) => Effect.promise(() => nc.close())
      )
      const pending = () => (nc as NatsConnectionImpl).protocol.muxSubscriptions.size()
      const subject = `corecancel${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}.ask`
      // A responder that takes the request and never answers.
      const received = yield* Deferred.make<void>()
      nc.subscribe(subject, { callback: () => Deferred.unsafeDone(received, Effect.void) })
      yield* Effect.promise(() => nc.flush())
      const transport = NatsCoreTransport.make(nc)
      const data = new TextEncoder().encode("{}")
      const requester = yield* Effect.fork(transport.request(subject, data, {}, Duration.hours(1)))
      yield* Deferred.await(received)
      expect(pending()).toBe(1)
      yield* Fiber.interrupt(requester)
      yield* eventually(Effect.sync(pending), (n) => n === 0, "the interrupted request to leave the client")
      // The connection still serves requests: a timeout is a Timeout, a reply a reply.
      const timedOut = yield* Effect.flip(transport.request(subject, data, {}, Duration.millis(50)))
      expect(timedOut._tag).toBe("Timeout")
      expect(pending()).toBe(0)
    }))
})
