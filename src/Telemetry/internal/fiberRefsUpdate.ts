/**
 * Several FiberRefs of a fiber set in one copy of its refs.
 *
 * `FiberRefs.updateManyAs` copies the refs once too, but compares each new value with the current one first
 * (`Equal.equals`), which for the values set here (the span annotations' `HashMap` and the `Context` holding the
 * parent span) hashes both sides: most of the cost of entering ids per message. Here each value goes on top of its
 * ref's stack as `updateManyAs` puts it (replacing the head the fiber itself wrote, above the values it inherited),
 * without the comparison: a value equal to the current one is stored again instead of being skipped, and every
 * read gives an equal value either way.
 *
 * @internal
 */
import type * as Context from "effect/Context"
import * as Equal from "effect/Equal"
import type * as Fiber from "effect/Fiber"
import type * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"

/** A FiberRef and its new value. @internal */
export type Setting = readonly [FiberRef.FiberRef<unknown>, unknown]

/**
 * `refs` with each of `settings` set by `fiberId`, as `FiberRefs.updateManyAs` sets them (see above).
 *
 * @internal
 */
export const setAll = (
  refs: FiberRefs.FiberRefs,
  fiberId: FiberId.Single,
  settings: ReadonlyArray<Setting>
): FiberRefs.FiberRefs => {
  const locals = new Map(refs.locals)
  for (let i = 0; i < settings.length; i++) {
    const [ref, value] = settings[i]!
    const stack = locals.get(ref)
    const entry = [fiberId, value] as const
    if (stack === undefined) {
      locals.set(ref, [entry])
    } else {
      // The head is this fiber's own value when it wrote one; the rest are the values it inherited.
      const [head] = stack
      const inherited = head[0] === fiberId || Equal.equals(head[0], fiberId) ? stack.slice(1) : stack
      locals.set(ref, [entry, ...inherited])
    }
  }
  return FiberRefs.unsafeMake(locals)
}

/**
 * `refs` with `context` as the context, set by `fiberId` as {@link setAll} sets it: what `Effect.provideService` does
 * on entry and on exit, in one update.
 *
 * @internal
 */
export const withContext = (
  refs: FiberRefs.FiberRefs,
  fiberId: FiberId.Single,
  context: Context.Context<never>
): FiberRefs.FiberRefs => setAll(refs, fiberId, [[FiberRef.currentContext as FiberRef.FiberRef<unknown>, context]])

/**
 * The fiber's runtime: its refs as they are, and their wholesale replacement (what `Effect.updateFiberRefs` ends
 * with).
 */
interface RuntimeRefs {
  readonly _fiberRefs: FiberRefs.FiberRefs
  readonly setFiberRefs: (refs: FiberRefs.FiberRefs) => void
}

/**
 * The refs of `fiber`, the fiber running the caller, as they are: `fiber.getFiberRefs()` first records the runtime
 * flags in them, a copy of the whole map, which a caller that replaces them whole does not need (the runtime flags
 * are the fiber's own, not read from its refs).
 *
 * @internal
 */
export const currentRefs = (fiber: Fiber.RuntimeFiber<unknown, unknown>): FiberRefs.FiberRefs =>
  (fiber as unknown as RuntimeRefs)._fiberRefs

/**
 * Replaces the refs of `fiber`, the fiber running the caller, as `Effect.updateFiberRefs` does without its read of
 * the refs first: the runtime's own `setFiberRefs`. This and {@link currentRefs} are what every fiber of Effect 3 has
 * (`test/TelemetryFiberRefsUpdate.test.ts` fails without them).
 *
 * @internal
 */
export const setRefs = (fiber: Fiber.RuntimeFiber<unknown, unknown>, refs: FiberRefs.FiberRefs): void =>
  (fiber as unknown as RuntimeRefs).setFiberRefs(refs)
