import { describe, expect, it } from "@effect/vitest"
import * as Array from "effect/Array"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import { vi } from "vitest"
import * as Bus from "../src/Bus/Bus.js"
import * as BusMemory from "../src/Bus/BusMemory.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as Streams from "../src/Events/Streams.js"
import * as JwtAuth from "../src/Http/JwtAuth.js"
import * as Correlation from "../src/Telemetry/Correlation.js"
import { randomHex } from "../src/Telemetry/internal/randomHex.js"

describe("Telemetry/Correlation", () => {
  it.live("hundreds of interleaved fibers each see only their own ids", () =>
    Effect.gen(function*() {
      const n = 400
      const results = yield* Effect.forEach(
        Array.range(1, n),
        (i) =>
          Effect.gen(function*() {
            const seen: Array<Option.Option<string>> = []
            for (let step = 0; step < 4; step++) {
              // different sleep patterns make the fibers interleave at every step
              yield* Effect.sleep(`${(i * 7 + step * 3) % 5} millis`)
              seen.push(yield* Correlation.correlationId)
              seen.push(yield* Correlation.requestId)
            }
            const child = yield* Effect.fork(
              Effect.zip(Effect.sleep("1 millis"), Effect.all([Correlation.correlationId, Correlation.requestId]))
            )
            const [, childIds] = yield* Fiber.join(child)
            return { i, seen, childIds }
          }).pipe(Correlation.withCorrelationId(`corr_${i}`), Correlation.withRequestId(`req_${i}`)),
        { concurrency: "unbounded" }
      )
      expect(results).toHaveLength(n)
      for (const { childIds, i, seen } of results) {
        expect(seen).toEqual(
          Array.flatten(Array.replicate([Option.some(`corr_${i}`), Option.some(`req_${i}`)], 4))
        )
        expect(childIds).toEqual([Option.some(`corr_${i}`), Option.some(`req_${i}`)])
      }
    }))

  it.effect("ids are scoped: unset outside, restored after a nested override", () =>
    Effect.gen(function*() {
      expect(yield* Correlation.correlationId).toEqual(Option.none())
      const inner = yield* Effect.all([
        Correlation.correlationId,
        Correlation.correlationId.pipe(Correlation.withCorrelationId("corr_inner")),
        Correlation.correlationId
      ]).pipe(Correlation.withCorrelationId("corr_outer"))
      expect(inner).toEqual([Option.some("corr_outer"), Option.some("corr_inner"), Option.some("corr_outer")])
      expect(yield* Correlation.correlationId).toEqual(Option.none())
      expect(yield* Correlation.causationId.pipe(Correlation.withCausationId("evt-1"))).toEqual(Option.some("evt-1"))
    }))

  it.effect("withIds sets several ids in one step and puts the previous ones back however the effect ends", () =>
    Effect.gen(function*() {
      const ids = Effect.all([Correlation.correlationId, Correlation.requestId, Correlation.causationId])
      const inside = yield* ids.pipe(
        Correlation.withIds({ correlationId: "corr_both", causationId: "evt-2" }),
        Correlation.withRequestId("req_outer")
      )
      expect(inside).toEqual([Option.some("corr_both"), Option.some("req_outer"), Option.some("evt-2")])

      // Restored after a success, a failure and an interruption, to the values from before (here: none).
      const outer = Correlation.withCorrelationId("corr_before")
      const after = (self: Effect.Effect<unknown, string>) =>
        Effect.zipRight(Effect.exit(Correlation.withIds(self, { correlationId: "corr_x", causationId: "evt-x" })), ids)
      for (const self of [Effect.void, Effect.fail("boom"), Effect.interrupt]) {
        expect(yield* outer(after(self))).toEqual([Option.some("corr_before"), Option.none(), Option.none()])
      }

      // Spans opened inside carry the ids; the current span gets them as attributes too.
      const attributes = yield* Effect.gen(function*() {
        const outerSpan = yield* Effect.currentSpan
        const innerSpan = yield* Effect.currentSpan.pipe(
          Effect.withSpan("inner"),
          Correlation.withIds({ correlationId: "corr_span", causationId: "evt-span" })
        )
        return [outerSpan.attributes, innerSpan.attributes]
      }).pipe(Effect.withSpan("outer"))
      for (const attrs of attributes) {
        expect(attrs.get(Correlation.spanAttributes.correlationId)).toBe("corr_span")
        expect(attrs.get(Correlation.spanAttributes.causationId)).toBe("evt-span")
      }
    }))

  it.effect("a forked daemon fiber keeps the ids it was forked with", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkDaemon(Correlation.correlationId).pipe(Correlation.withCorrelationId("corr_d"))
      expect(yield* Fiber.join(fiber)).toEqual(Option.some("corr_d"))
    }))

  it("makes ids in the Python services' formats", () => {
    const requestIds = Array.makeBy(50, () => Correlation.makeRequestId())
    const correlationIds = Array.makeBy(50, () => Correlation.makeCorrelationId())
    for (const id of requestIds) expect(id).toMatch(/^req_[0-9a-f]{12}$/)
    for (const id of correlationIds) expect(id).toMatch(/^corr_[0-9a-f]{12}$/)
    expect(new Set(requestIds).size).toBe(50)
  })

  it("draws ids from a pool that refills without repeating itself", () => {
    // The pool holds 3 072 bytes: 3 000 rounds of two 6-byte ids and a 16-byte trace id (as a request without
    // one draws) cross several refills, some of them where the next draw no longer fits.
    const drawn = Array.makeBy(
      3000,
      () => [Correlation.makeRequestId(), Correlation.makeCorrelationId(), randomHex(16)]
    )
    for (const [request, correlation, trace] of drawn) {
      expect(request).toMatch(/^req_[0-9a-f]{12}$/)
      expect(correlation).toMatch(/^corr_[0-9a-f]{12}$/)
      expect(trace).toMatch(/^[0-9a-f]{32}$/)
    }
    const digits = drawn.flat().map((id) => id.slice(id.indexOf("_") + 1))
    expect(new Set(digits).size).toBe(digits.length)
  })

  it("accepts only safe incoming ids", () => {
    expect(Correlation.isValidId("corr_4f9a1c2b7d3e")).toBe(true)
    expect(Correlation.isValidId("a.b:c-d_e")).toBe(true)
    expect(Correlation.isValidId("")).toBe(false)
    expect(Correlation.isValidId("x".repeat(129))).toBe(false)
    expect(Correlation.isValidId("abc\r\nSet-Cookie: x")).toBe(false)
    expect(Correlation.isValidId("has space")).toBe(false)
  })
  it.effect("an id holding a control character (a line break), which no header can carry, is not set", () =>
    Effect.gen(function*() {
      for (const id of ["abc\r\nX-Injected: 1", "a\nb", "nul\u0000", "esc\u001b[31m", "del\u007f"]) {
        const seen = yield* Effect.all([Correlation.correlationId, Correlation.requestId, Correlation.causationId])
          .pipe(Correlation.withIds({ correlationId: id, requestId: id, causationId: id }))
        expect(seen).toEqual([Option.none(), Option.none(), Option.none()])
        // The ids already set are kept.
        const kept = yield* Correlation.correlationId.pipe(
          Correlation.withCorrelationId(id),
          Correlation.withCorrelationId("corr_outer")
        )
        expect(kept).toEqual(Option.some("corr_outer"))
      }
      // A tab, a space, any printable text: set as they are.
      expect(yield* Correlation.correlationId.pipe(Correlation.withCorrelationId("a\tb c é"))).toEqual(
        Option.some("a\tb c é")
      )
    }))

  it.live("a consumed envelope's correlation_id with a line break does not make the handler's publishes fail", () =>
    Effect.gen(function*() {
      const stream = Streams.make("CORRLB", { domain: "corrlb" })
      const Ping = EventDefinition.event("corrlb.ping", Schema.Struct({ n: Schema.Number }), { stream })
      const Pong = EventDefinition.event("corrlb.pong", Schema.Struct({ n: Schema.Number }), { stream })
      const results = yield* Queue.unbounded<string>()
      yield* Effect.gen(function*() {
        yield* Bus.subscribe(Ping, { durable: "corrlb", maxDeliver: 1 }, () =>
          Bus.publish(Pong, { n: 2 }).pipe(
            Effect.matchEffect({
              onFailure: (error) => Queue.offer(results, `failed: ${error.message}`),
              onSuccess: (published) => Queue.offer(results, `published with ${published.correlationId}`)
            })
          ))
        const envelope = {
          event_id: "3f1c4ad2-5a51-4d3c-9c4b-2d1e0a9b8c7d",
          subject: "evt.corrlb.ping",
          correlation_id: "abc\r\nX-Injected: 1",
          timestamp: "2024-01-01T00:00:00+00:00",
          metadata: {},
          payload: { n: 1 }
        }
        yield* Bus.publishEncoded({ subject: "evt.corrlb.ping", body: JSON.stringify(envelope), msgId: "m1" })
        const result = yield* Queue.take(results)
        // A new chain: the id could not be carried on.
        expect(result).toMatch(/^published with /)
        expect(result).not.toContain("X-Injected")
      }).pipe(Effect.provide(BusMemory.layerMemory({ serviceName: "corr-test", streams: [stream] })), Effect.scoped)
    }))
})

describe("Telemetry/Correlation loaded twice", () => {
  it.live("an id set through one copy of the module is read through another", () =>
    Effect.gen(function*() {
      vi.resetModules()
      const other = yield* Effect.promise(() => import("../src/Telemetry/Correlation.js"))
      const otherJwt = yield* Effect.promise(() => import("../src/Http/JwtAuth.js"))
      expect(other).not.toBe(Correlation)
      expect(otherJwt).not.toBe(JwtAuth)
      const read = yield* Effect.all([other.correlationId, other.causationId]).pipe(
        Correlation.withCorrelationId("corr_twice"),
        Correlation.withCausationId("evt_twice")
      )
      expect(read).toEqual([Option.some("corr_twice"), Option.some("evt_twice")])
      const back = yield* Correlation.requestId.pipe(other.withRequestId("req_twice"))
      expect(back).toEqual(Option.some("req_twice"))
      expect(otherJwt.currentPrincipal).toBe(JwtAuth.currentPrincipal)
    }))
})
