/**
 * The publisher of the poison scenario: `count` good events with one of each kind of poison mixed in at even
 * intervals, the bad bodies published byte for byte with `Bus.publishEncoded` (each under the `Nats-Msg-Id`
 * `poison-<kind>`), and one valid event whose handler fails non-retryably.
 */
import { Effect } from "effect"
import * as Bus from "../../../src/Bus/Bus.js"
import { EventEnvelope } from "../../../src/Events/index.js"
import { busLayer, emit, runWorker, settings, tickEvent, type WorkerSettings } from "./common.js"

const s = settings<WorkerSettings & { readonly count: number }>()
const { tick } = tickEvent(s.stream)

/** Each kind of poison, made from a valid envelope's JSON. */
const poisons = (valid: Record<string, unknown>): ReadonlyArray<readonly [kind: string, body: string]> => {
  let deep: unknown = 1
  for (let i = 0; i < 200; i++) deep = [deep]
  return [
    ["not-json", "{this is not JSON"],
    ["bad-envelope", JSON.stringify({ event_type: 42, payload: "nothing else" })],
    ["bad-timestamp", JSON.stringify({ ...valid, timestamp: "yesterday at noon" })],
    ["bad-payload", JSON.stringify({ ...valid, payload: { n: "not a number" } })],
    ["deep-nesting", JSON.stringify({ ...valid, payload: { n: 1, deep } })]
  ]
}

const program = Effect.gen(function*() {
  const envelope = yield* EventEnvelope.make(tick, { n: 0, work: "normal" as const }, { sourceService: s.service })
  const valid = JSON.parse(yield* EventEnvelope.encodeBody(envelope)) as Record<string, unknown>
  const bad = poisons(valid)
  const every = Math.floor(s.count / (bad.length + 2))
  let next = 0
  for (let from = 0; from < s.count; from += every) {
    const ns = Array.from({ length: Math.min(every, s.count - from) }, (_, i) => from + i)
    const results = yield* Bus.publishMany(ns.map((n) => Bus.message(tick, { n, work: "normal" as const })))
    if (results.some((r) => r._tag === "Left")) return yield* Effect.die(new Error("a good event was not published"))
    const poison = bad[next]
    if (poison !== undefined) {
      const [kind, body] = poison
      yield* Bus.publishEncoded({ subject: tick.subject, body, msgId: `poison-${kind}` })
    } else if (next === bad.length) {
      yield* Bus.publish(tick, { n: -1, work: "fail" as const }, { idempotencyKey: "poison-handler-fail" })
    }
    next++
  }
  emit("done", { good: s.count, bad: [...bad.map(([kind]) => kind), "handler-fail"] })
})

runWorker(program, busLayer(s))
