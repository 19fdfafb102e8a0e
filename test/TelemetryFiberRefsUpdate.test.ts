/**
 * `Telemetry/internal/fiberRefsUpdate.setAll` builds the refs `FiberRefs.updateManyAs` builds: the same value read
 * for every ref, and the same stacks (the fiber's own head replaced, inherited values kept below it).
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Equal, FiberId, FiberRef, FiberRefs, HashMap, Option } from "effect"
import * as FiberRefsUpdate from "../src/Telemetry/internal/fiberRefsUpdate.js"

const parent = FiberId.runtime(1, 1000)
const self = FiberId.runtime(2, 2000)
const refA = FiberRef.unsafeMake<Option.Option<string>>(Option.none())
const refB = FiberRef.unsafeMake<Option.Option<string>>(Option.none())
const refC = FiberRef.unsafeMake<number>(0)
const Tag = Context.GenericTag<string>("test/Tag")

/** Refs the fiber inherited (refA, the annotations), wrote itself (refB, the context), or never had (refC). */
type Stack = readonly [readonly [FiberId.Single, unknown], ...Array<readonly [FiberId.Single, unknown]>]
const entry = <A>(ref: FiberRef.FiberRef<A>, stack: Stack) => [ref as FiberRef.FiberRef<unknown>, stack] as const
const start = FiberRefs.unsafeMake(
  new Map([
    entry(refA, [[parent, Option.some("inherited")]]),
    entry(refB, [[self, Option.some("own")], [parent, Option.some("below")]]),
    entry(FiberRef.currentTracerSpanAnnotations, [[parent, HashMap.make(["k", "v"])]]),
    entry(FiberRef.currentContext, [[self, Context.make(Tag, "one")]])
  ])
)

const settings: ReadonlyArray<FiberRefsUpdate.Setting> = [
  [refA as FiberRef.FiberRef<unknown>, Option.some("a")],
  [refB as FiberRef.FiberRef<unknown>, Option.some("b")],
  [refC as FiberRef.FiberRef<unknown>, 7],
  [FiberRef.currentTracerSpanAnnotations as FiberRef.FiberRef<unknown>, HashMap.make(["k", "v"], ["id", "x"])],
  // Equal to the current value: `updateManyAs` keeps the current one, `setAll` stores this one; both read equal.
  [FiberRef.currentContext as FiberRef.FiberRef<unknown>, Context.make(Tag, "one")]
]

describe("fiberRefsUpdate.setAll", () => {
  it("reads and stacks as FiberRefs.updateAs, one setting after the other (what updateManyAs does)", () => {
    const fast = FiberRefsUpdate.setAll(start, self, settings)
    const reference = settings.reduce(
      (refs, [fiberRef, value]) => FiberRefs.updateAs(refs, { fiberId: self, fiberRef, value }),
      start
    )
    expect(new Set(fast.locals.keys())).toEqual(new Set(reference.locals.keys()))
    for (const [ref, stack] of reference.locals) {
      const own = fast.locals.get(ref)!
      expect(own.length).toBe(stack.length)
      own.forEach(([id, value], i) => {
        expect(Equal.equals(id, stack[i]![0])).toBe(true)
        expect(Equal.equals(value, stack[i]![1])).toBe(true)
      })
    }
    // The refs it started from are left as they were.
    expect(FiberRefs.getOrDefault(start, refA)).toEqual(Option.some("inherited"))
    expect(start.locals.get(refC)).toBeUndefined()
  })
})

describe("fiberRefsUpdate.currentRefs and setRefs", () => {
  it.effect("read the fiber's refs as they are and replace them whole", () =>
    Effect.gen(function*() {
      const seen = yield* Effect.locally(
        Effect.withFiberRuntime((fiber) => {
          const refs = FiberRefsUpdate.currentRefs(fiber)
          const before = FiberRefs.getOrDefault(refs, refA)
          FiberRefsUpdate.setRefs(
            fiber,
            FiberRefsUpdate.setAll(refs, fiber.id(), [[refC as FiberRef.FiberRef<unknown>, 9]])
          )
          return Effect.succeed(before)
        }).pipe(Effect.zipWith(Effect.all([FiberRef.get(refA), FiberRef.get(refC)]), (before, after) => ({
          before,
          after
        }))),
        refA,
        Option.some("set")
      )
      expect(seen.before).toEqual(Option.some("set"))
      // What setRefs put in place is what the fiber reads next; what it did not touch is kept.
      expect(seen.after).toEqual([Option.some("set"), 9])
    }))
})
