/**
 * The core NATS conformance suite (test/fixtures/bus/coreConformance.ts) in memory and on the real server, and what
 * only the server can refuse: a reply over its max_payload.
 */
import { expect, it } from "@effect/vitest"
import { connect } from "@nats-io/transport-node"
import { Effect, Option, Schema } from "effect"
import { describe } from "vitest"
import * as CoreNats from "../src/Bus/CoreNats.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as Streams from "../src/Events/Streams.js"
import { coreConformance } from "./fixtures/bus/coreConformance.js"
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
})
