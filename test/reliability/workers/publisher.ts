/**
 * The service of the broker-crash scenario: publishes `count` events, the first half as awaited `Bus.publish`
 * calls (`concurrency` at once), the rest with `Bus.publishMany` in batches, and reports its progress and every
 * caller-visible outcome. With `outage`, it instead waits for the server to go, publishes `count` events into the
 * outage (reporting each typed error and how long it took), then, once the server is back, publishes them again under
 * the same idempotency keys, as a caller retrying would.
 */
import { Effect, Either, Schedule } from "effect"
import * as Bus from "../../../src/Bus/Bus.js"
import { busLayer, describeError, emit, runWorker, settings, tickEvent, type WorkerSettings } from "./common.js"

interface PublisherSettings extends WorkerSettings {
  readonly count: number
  readonly concurrency: number
  readonly batch: number
  readonly outage?: boolean
  /** The events with `n % every === at` (`at` 0 by default) get this `work` instead of `normal`; the first match wins. */
  readonly special?: Special | ReadonlyArray<Special>
}

interface Special {
  readonly every: number
  readonly at?: number
  readonly work: "slow" | "hang" | "long" | "fail"
}

const s = settings<PublisherSettings>()
const { tick } = tickEvent(s.stream)
const key = (n: number) => `${s.service}-${n}`
const specials: ReadonlyArray<Special> = s.special === undefined
  ? []
  : Array.isArray(s.special)
  ? s.special
  : [s.special as Special]
const payload = (n: number) => ({
  n,
  work: specials.find((special) => n % special.every === (special.at ?? 0))?.work ?? "normal" as const
})

const acked = new Set<number>()
let duplicateAcks = 0
let errors = 0
const record = (n: number, result: Either.Either<Bus.PublishAck, unknown>) => {
  if (Either.isLeft(result)) {
    errors++
    emit("error", { n, ...describeError(result.left) })
    return
  }
  if (acked.has(n)) emit("double-ack", { n })
  acked.add(n)
  if (result.right.duplicate) duplicateAcks++
  if (acked.size % 500 === 0) emit("progress", { acked: acked.size })
}

const publishOne = (n: number) =>
  Bus.publish(tick, payload(n), { idempotencyKey: key(n) }).pipe(
    Effect.either,
    Effect.map((result) => record(n, result))
  )

const burst = Effect.gen(function*() {
  const half = Math.floor(s.count / 2)
  yield* Effect.forEach(Array.from({ length: half }, (_, i) => i), publishOne, {
    concurrency: s.concurrency,
    discard: true
  })
  for (let from = half; from < s.count; from += s.batch) {
    const ns = Array.from({ length: Math.min(s.batch, s.count - from) }, (_, i) => from + i)
    const results = yield* Bus.publishMany(
      ns.map((n) => Bus.message(tick, payload(n), { idempotencyKey: key(n) }))
    )
    results.forEach((result, i) => record(ns[i]!, result))
  }
  emit("done", { acked: acked.size, errors, duplicateAcks })
})

/** Waits until the connection is up (`true`) or down (`false`). */
const waitConnected = (connected: boolean) =>
  Bus.health.pipe(
    Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (h) => (h.status === "connected") === connected }),
    Effect.asVoid
  )

const outage = Effect.gen(function*() {
  yield* Bus.publish(tick, { n: -1, work: "normal" as const }, { idempotencyKey: key(-1) })
  emit("ready")
  yield* waitConnected(false)
  emit("server-gone")
  const failures = yield* Effect.forEach(
    Array.from({ length: s.count }, (_, n) => n),
    (n) =>
      Effect.gen(function*() {
        const started = Date.now()
        const result = yield* Effect.either(
          Bus.publish(tick, { n, work: "normal" as const }, { idempotencyKey: key(n) })
        )
        const ms = Date.now() - started
        if (Either.isRight(result)) emit("acked-in-outage", { n, ms })
        else emit("outage-error", { n, ms, ...describeError(result.left) })
        return result
      }),
    { concurrency: "unbounded" }
  )
  emit("outage-done", { failed: failures.filter(Either.isLeft).length })
  yield* waitConnected(true)
  emit("server-back")
  yield* Effect.forEach(Array.from({ length: s.count }, (_, n) => n), publishOne, { concurrency: "unbounded" })
  emit("done", { acked: acked.size, errors, duplicateAcks })
})

runWorker(s.outage === true ? outage : burst, busLayer(s))
