/**
 * `FiberSpans.withSpan` (the repository's operation span) against `Effect.withSpan`: the same spans (name, kind,
 * parent, attributes, links, exit), the same parent for what runs inside and after, the refs the inner effect set
 * kept, the span ended when the effect is interrupted, and `withSpan`'s no-op span when tracing is disabled.
 */
import { it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, FiberRef, Option, Tracer } from "effect"
import { describe, expect } from "vitest"
import * as FiberSpans from "../src/Telemetry/internal/fiberSpans.js"
import { recordingTracer } from "./support/recordingTracer.js"

type WithSpan = <A, E, R>(self: Effect.Effect<A, E, R>, name: string) => Effect.Effect<A, E, R>

const options = { kind: "internal", attributes: { "db.collection.name": "items" }, captureStackTrace: false } as const

const viaEffect: WithSpan = (self, name) => Effect.withSpan(self, name, options)
const viaFiber: WithSpan = (self, name) => FiberSpans.withSpan(self, name, options)

const note = FiberRef.unsafeMake("")

// The spans of a run as names, kinds, parents' names, attributes, links and exits.
const shape = (spans: ReadonlyArray<Tracer.Span>) =>
  spans.map((span) => ({
    name: span.name,
    kind: span.kind,
    parent: Option.match(span.parent, {
      onNone: () => "none",
      onSome: (p) => spans.find((s) => s.spanId === p.spanId)?.name ?? "external"
    }),
    attributes: Object.fromEntries(span.attributes),
    links: span.links.length,
    exit: span.status._tag === "Ended"
      ? Exit.match(span.status.exit, { onFailure: (c) => c._tag, onSuccess: () => "Success" })
      : "open"
  }))

// One scenario run with `withSpan` as the operation span, inside a caller's span; what it saw and left.
const scenario = (withSpan: WithSpan, inner: Effect.Effect<unknown, string>) =>
  Effect.gen(function*() {
    const { layer, spans } = recordingTracer()
    const result = yield* Effect.gen(function*() {
      const exit = yield* Effect.exit(withSpan(inner, "Repository.findById"))
      // After the operation the caller's span is the parent again.
      yield* Effect.void.pipe(Effect.withSpan("after"))
      const noteAfter = yield* FiberRef.get(note)
      return { exit: Exit.isSuccess(exit) ? "Success" : "Failure", noteAfter }
    }).pipe(
      Effect.annotateSpans("correlation_id", "c-1"),
      Effect.linkSpans(
        Tracer.externalSpan({ spanId: "00f067aa0ba902b7", traceId: "4bf92f3577b34da6a3ce929d0e0e4736" })
      ),
      Effect.withSpan("caller"),
      Effect.provide(layer),
      Effect.locally(note, "")
    )
    return { ...result, spans: shape(spans) }
  })

const inners: ReadonlyArray<readonly [string, Effect.Effect<unknown, string>]> = [
  ["succeeds with a child span", Effect.void.pipe(Effect.withSpan("sql.execute"))],
  ["fails", Effect.fail("nope")],
  ["dies", Effect.die(new Error("boom"))],
  ["sets a FiberRef, which stays set", FiberRef.set(note, "set inside")],
  ["annotates its span", Effect.annotateCurrentSpan("rows", 1)]
]

describe("FiberSpans.withSpan", () => {
  for (const [name, inner] of inners) {
    it.effect(`gives the spans and refs Effect.withSpan gives: ${name}`, () =>
      Effect.gen(function*() {
        const expected = yield* scenario(viaEffect, inner)
        const actual = yield* scenario(viaFiber, inner)
        expect(actual).toEqual(expected)
        expect(actual.spans.find((s) => s.name === "Repository.findById")?.parent).toBe("caller")
        expect(actual.spans.find((s) => s.name === "after")?.parent).toBe("caller")
      }))
  }

  it.live("ends the span, interrupted, and puts the caller's span back when the effect is interrupted", () =>
    Effect.gen(function*() {
      const { layer, spans } = recordingTracer()
      yield* Effect.gen(function*() {
        const started = yield* Deferred.make<void>()
        const fiber = yield* Effect.fork(
          FiberSpans.withSpan(Effect.zipRight(Deferred.succeed(started, undefined), Effect.never), "op", options)
        )
        yield* Deferred.await(started)
        yield* Fiber.interrupt(fiber)
        yield* Effect.void.pipe(Effect.withSpan("after"))
      }).pipe(Effect.withSpan("caller"), Effect.provide(layer))
      const op = spans.find((s) => s.name === "op")!
      expect(op.status._tag).toBe("Ended")
      if (op.status._tag === "Ended") expect(Exit.isInterrupted(op.status.exit)).toBe(true)
      const after = spans.find((s) => s.name === "after")!
      expect(Option.map(after.parent, (p) => p.spanId)).toEqual(
        Option.some(spans.find((s) => s.name === "caller")!.spanId)
      )
    }))

  it.effect("with tracing disabled, opens Effect.withSpan's no-op span", () =>
    Effect.gen(function*() {
      const { layer, spans } = recordingTracer()
      const span = yield* FiberSpans.withSpan(Effect.currentSpan, "op", options).pipe(
        Effect.withTracerEnabled(false),
        Effect.provide(layer)
      )
      expect(spans).toEqual([])
      expect(span.name).toBe("op")
    }))
})
