/**
 * Spans opened and ended straight on the running fiber, as `Effect.makeSpan` and `Effect.withSpan` open and end
 * them, for the paths that open one per message, request or statement (the Bus's consumer span, the HTTP server
 * span, the repository's operation span):
 * `makeSpan` copies the fiber's refs whole to read two of them, and `withSpan` provides the span as parent with
 * a scoped `Context` change (two copies of the refs and two of the context) where these paths set it with the rest
 * of what they enter.
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import * as FiberRefsUpdate from "./fiberRefsUpdate.js"

/**
 * The options of {@link open}: `Effect.makeSpan`'s, with a kind and without a stack trace (one per message or
 * request costs more than the work it annotates). Without `parent`, the parent is the fiber's current span as
 * `makeSpan` finds it, or none with `root`.
 *
 * @internal
 */
export type OpenOptions = Tracer.SpanOptions & { readonly kind: Tracer.SpanKind; readonly captureStackTrace: false }

// The current span as `makeSpan` takes it for a parent: a span that disables propagation passes its own parent.
const propagated = (span: Option.Option<Tracer.AnySpan>): Option.Option<Tracer.AnySpan> => {
  if (Option.isNone(span) || !Context.get(span.value.context, Tracer.DisablePropagation)) return span
  return span.value._tag === "Span" ? propagated(span.value.parent) : Option.none()
}

/**
 * A span opened on the fiber's own tracer as `Effect.makeSpan(name, options)` opens it: the tracer's `span` with
 * the fiber's span links (then the options'), the fiber's timing, then the fiber's span annotations and the
 * options' attributes. With tracing disabled on the fiber, or propagation disabled by the options' context,
 * `undefined`: `makeSpan` opens its no-op span.
 *
 * @internal
 */
export const open = (
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  name: string,
  options: OpenOptions
): Tracer.Span | undefined => {
  if (
    !fiber.getFiberRef(FiberRef.currentTracerEnabled) ||
    (options.context !== undefined && Context.get(options.context, Tracer.DisablePropagation))
  ) return undefined
  const startTime = fiber.getFiberRef(FiberRef.currentTracerTimingEnabled)
    ? Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeNanos()
    : BigInt(0)
  const parent = options.parent !== undefined
    ? Option.some(options.parent)
    : options.root === true
    ? Option.none()
    : propagated(Context.getOption(fiber.currentContext, Tracer.ParentSpan))
  const links = Chunk.toReadonlyArray(fiber.getFiberRef(FiberRef.currentTracerSpanLinks))
  const span = fiber.currentTracer.span(
    name,
    parent,
    options.context ?? Context.empty(),
    options.links === undefined ? links : [...links, ...options.links],
    startTime,
    options.kind,
    options
  )
  HashMap.forEach(fiber.getFiberRef(FiberRef.currentTracerSpanAnnotations), (value, key) => span.attribute(key, value))
  for (const key in options.attributes) span.attribute(key, options.attributes[key])
  return span
}

/**
 * Ends a span as `Effect.withSpan` does, with the exit of what ran in it (a span already ended stays as it is).
 *
 * @internal
 */
export const end = (
  span: Tracer.Span,
  exit: Exit.Exit<unknown, unknown>,
  fiber: Fiber.RuntimeFiber<unknown, unknown>
): void => {
  if (span.status._tag === "Ended") return
  const timing = fiber.getFiberRef(FiberRef.currentTracerTimingEnabled)
  span.end(timing ? Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeNanos() : BigInt(0), exit)
}

/**
 * `Effect.withSpan(self, name, options)` on the fiber in hand: the span opened by {@link open}, provided as the
 * parent of what runs inside in one update of the fiber's refs, and ended, with the context put back, when `self`
 * ends (interrupted included), where `withSpan` reads the refs whole to open the span and provides it with two
 * updates of the refs and of the context. When `self` changed none of the fiber's refs, the refs it had before are
 * put back as they were; otherwise only the context is. With tracing disabled, `Effect.withSpan` itself.
 *
 * @internal
 */
export const withSpan = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  name: string,
  options: OpenOptions
): Effect.Effect<A, E, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.withFiberRuntime<A, E, R>((fiber) => {
      const span = open(fiber, name, options)
      if (span === undefined) return restore(Effect.withSpan(self, name, options))
      const previous = FiberRefsUpdate.currentRefs(fiber)
      const context = fiber.currentContext
      const entered = FiberRefsUpdate.withContext(previous, fiber.id(), Context.add(context, Tracer.ParentSpan, span))
      FiberRefsUpdate.setRefs(fiber, entered)
      return Effect.flatMap(Effect.exit(restore(self)), (exit) => {
        end(span, exit, fiber)
        const current = FiberRefsUpdate.currentRefs(fiber)
        FiberRefsUpdate.setRefs(
          fiber,
          current === entered ? previous : FiberRefsUpdate.withContext(current, fiber.id(), context)
        )
        return exit
      })
    })
  )
