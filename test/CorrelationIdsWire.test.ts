/**
 * Ids adopted from the wire and carried on: a consumed envelope's `correlation_id` that no header can carry (a
 * character above U+00FF, over 128 characters) is not set on the handler's fiber, so the handler's HTTP calls and
 * publishes go out (with no id or a new one) instead of failing; the refused value is on the consumer span.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Cause, Duration, Effect, Layer, Option, Queue, Schema } from "effect"
import type { AddressInfo } from "node:net"
import * as Bus from "../src/Bus/Bus.js"
import * as CoreNats from "../src/Bus/CoreNats.js"
import { BusConfig, JetStream } from "../src/Bus/index.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as Streams from "../src/Events/Streams.js"
import type { ClientConfig } from "../src/Http/HttpConfig.js"
import * as ServiceClient from "../src/Http/ServiceClient.js"
import * as Correlation from "../src/Telemetry/Correlation.js"
import { randomHex } from "../src/Telemetry/internal/randomHex.js"
import { localHttpServer } from "./support/localService.js"
import { serviceAvailable, services } from "./support/services.js"

const natsUp = await serviceAvailable("nats")
const url = `nats://${services.nats.host}:${services.nats.port}`

const busOptions = (stream: Streams.StreamDefinition): JetStream.JetStreamOptions => ({
  servers: [url],
  user: Option.none(),
  password: Option.none(),
  token: Option.none(),
  serviceName: "correlation-wire-test",
  appEnv: "test",
  streams: BusConfig.defaultStreamLimits,
  publishTimeout: Duration.seconds(5),
  publishRetryBudget: Duration.seconds(30),
  ownStreams: Option.none(),
  ensureStreams: true,
  streamDefinitions: [stream]
})

const clientConfig = (baseUrl: string): ClientConfig => ({
  name: "downstream",
  baseUrl,
  timeoutMs: 10_000,
  maxRetries: 0,
  retryBaseDelayMs: 10,
  breakerFailureThreshold: 5,
  breakerResetTimeoutMs: 300,
  breakerHalfOpenMaxCalls: 1
})

const deleteStream = (name: string) =>
  Effect.promise(async () => {
    const nc = await connect({ servers: url })
    try {
      await (await jetstreamManager(nc)).streams.delete(name)
    } finally {
      await nc.close()
    }
  }).pipe(Effect.ignore)

describe("Correlation ids", () => {
  it("settable ids are those a header can carry: 1..128 printable ASCII or latin-1 characters", () => {
    for (const id of ["corr_4f9a1c2b7d3e", "a\tb c é", "commande-réf 42", "x".repeat(128), "ÿ", "!"]) {
      expect(Correlation.isSettableId(id), id).toBe(true)
    }
    const refused = [
      "",
      "x".repeat(129),
      "order-\u2713",
      "\u{1F600}",
      "abc\r\nX-Injected: 1",
      "nul\u0000",
      "del\u007f",
      "csi\u009b31m",
      " leading",
      "trailing ",
      "\ttab",
      "\u00a0nbsp"
    ]
    for (const id of refused) expect(Correlation.isSettableId(id), JSON.stringify(id)).toBe(false)
  })

  it.effect("an id that is not settable is not set, the ids already set are kept, the span records it", () =>
    Effect.gen(function*() {
      for (const id of ["order-\u2713", "x".repeat(129)]) {
        const seen = yield* Effect.all([Correlation.correlationId, Correlation.requestId, Correlation.causationId])
          .pipe(Correlation.withIds({ correlationId: id, requestId: id, causationId: id }))
        expect(seen).toEqual([Option.none(), Option.none(), Option.none()])
        const kept = yield* Correlation.correlationId.pipe(
          Correlation.withCorrelationId(id),
          Correlation.withCorrelationId("corr_outer")
        )
        expect(kept).toEqual(Option.some("corr_outer"))
      }
      const long = "y".repeat(10_000)
      const span = yield* Effect.currentSpan.pipe(
        Effect.tap(() => Correlation.setIds({ correlationId: long, requestId: "req_000000000000" })),
        Effect.withSpan("refusing")
      )
      expect(span.attributes.get("request_id")).toBe("req_000000000000")
      expect(span.attributes.get("correlation_id")).toBeUndefined()
      const refused = span.attributes.get("refused_correlation_id")
      expect(typeof refused === "string" && refused.startsWith("y".repeat(Correlation.maxRefusedIdLength))).toBe(true)
      expect((refused as string).length).toBeLessThan(Correlation.maxRefusedIdLength + 40)
      // `refsWithIds` (a consumer entering a message) records it on the span it is given as parent.
      const parent = yield* Effect.makeSpan("consuming")
      const refs = yield* Effect.withFiberRuntime((fiber) =>
        Effect.succeed(
          Correlation.refsWithIds(fiber.id(), fiber.getFiberRefs(), { correlationId: "order-\u2713" }, {
            parentSpan: parent
          })
        )
      )
      expect(parent.attributes.get("refused_correlation_id")).toBe("order-\u2713")
      expect(refs).toBeDefined()
    }))

  it.live.skipIf(!natsUp)(
    "a consumed envelope's correlation_id no header can carry does not make the handler's HTTP calls fail",
    () =>
      Effect.gen(function*() {
        const suffix = randomHex(4)
        const stream = Streams.make(`CORRWIRE_${suffix}`.toUpperCase(), { domain: `corrwire${suffix}` })
        const Ping = EventDefinition.event(`${stream.domain}.ping`, Schema.Struct({ n: Schema.Number }), { stream })
        yield* Effect.addFinalizer(() => deleteStream(stream.name))
        const seenHeaders = yield* Queue.unbounded<string>()
        const server = yield* localHttpServer((req, res) => {
          Queue.unsafeOffer(seenHeaders, String(req.headers["x-correlation-id"] ?? "(none)"))
          res.writeHead(200, { "content-type": "application/json" })
          res.end(JSON.stringify({ data: { ok: true } }))
        })
        const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
        const client = yield* ServiceClient.make(clientConfig(base))
        const results = yield* Queue.unbounded<string>()
        const ctx = yield* Layer.build(JetStream.layer(busOptions(stream)))
        yield* Effect.gen(function*() {
          yield* Bus.subscribe(Ping, { durable: `corrwire${suffix}`, maxDeliver: 1 }, () =>
            client.get("/api/v1/items/1").pipe(
              Effect.matchCauseEffect({
                onFailure: (cause) =>
                  Queue.offer(results, `failed: ${Cause.pretty(cause)}`),
                onSuccess: () =>
                  Queue.offer(results, "called")
              })
            ))
          for (const [n, correlationId] of [[1, "commande-\u2713"], [2, "c".repeat(129)], [3, "réf-42"]] as const) {
            const envelope = {
              event_id: `3f1c4ad2-5a51-4d3c-9c4b-2d1e0a9b8c7${n}`,
              subject: Ping.subject,
              correlation_id: correlationId,
              timestamp: "2024-01-01T00:00:00+00:00",
              metadata: {},
              payload: { n }
            }
            yield* Bus.publishEncoded({ subject: Ping.subject, body: JSON.stringify(envelope), msgId: `m${n}` })
            expect(yield* Queue.take(results)).toBe("called")
            // Refused: no id is sent on; a latin-1 id is carried on as it came.
            expect(yield* Queue.take(seenHeaders)).toBe(n === 3 ? "réf-42" : "(none)")
          }
        }).pipe(Effect.provide(ctx))
      }).pipe(Effect.provide(NodeHttpClient.layer), Effect.scoped),
    60_000
  )

  it.live.skipIf(!natsUp)(
    "core NATS: a received correlation_id no header can carry does not make the handler's HTTP calls fail",
    () =>
      Effect.gen(function*() {
        const stream = Streams.make(`CORECORR_${randomHex(4)}`.toUpperCase(), { domain: `corecorr${randomHex(4)}` })
        const Ping = EventDefinition.event(`${stream.domain}.ping`, Schema.Struct({ n: Schema.Number }), { stream })
        const seenHeaders = yield* Queue.unbounded<string>()
        const server = yield* localHttpServer((req, res) => {
          Queue.unsafeOffer(seenHeaders, String(req.headers["x-correlation-id"] ?? "(none)"))
          res.writeHead(200, { "content-type": "application/json" })
          res.end(JSON.stringify({ data: { ok: true } }))
        })
        const client = yield* ServiceClient.make(
          clientConfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
        )
        const results = yield* Queue.unbounded<string>()
        const ctx = yield* Layer.build(CoreNats.layer({
          servers: [url],
          user: Option.none(),
          password: Option.none(),
          token: Option.none(),
          serviceName: "correlation-core-test"
        }))
        yield* Effect.gen(function*() {
          yield* CoreNats.subscribe(Ping, {}, () =>
            client.get("/api/v1/items/1").pipe(
              Effect.matchCauseEffect({
                onFailure: (cause) => Queue.offer(results, `failed: ${Cause.pretty(cause)}`),
                onSuccess: () => Queue.offer(results, "called")
              })
            ))
          for (const [n, correlationId] of [[1, "commande-\u2713"], [2, "c".repeat(129)], [3, "réf-42"]] as const) {
            // Sent as a publisher that does not check the rule would send it (the Python package's).
            yield* CoreNats.publish(Ping, { n }, { correlationId })
            expect(yield* Queue.take(results)).toBe("called")
            expect(yield* Queue.take(seenHeaders)).toBe(n === 3 ? "réf-42" : "(none)")
          }
        }).pipe(Effect.provide(ctx))
      }).pipe(Effect.provide(NodeHttpClient.layer), Effect.scoped),
    60_000
  )
})
