/**
 * The outbox side of the relay-crash scenario. `mode: "enqueue"` writes `count` events into the outbox (transactions
 * of 100, no relay running) and exits; `mode: "relay"` runs `Sql.OutboxRelay` on them until it is killed.
 */
import { Effect, Layer } from "effect"
import * as Sql from "../../../src/Sql/index.js"
import { busLayer, emit, runWorker, settings, sqlLayer, tickEvent, type WorkerSettings } from "./common.js"

interface RelaySettings extends WorkerSettings {
  readonly mode: "enqueue" | "relay"
  readonly count: number
  readonly batchSize: number
}

const s = settings<RelaySettings>()
const { tick } = tickEvent(s.stream)
const resources = Layer.merge(busLayer(s), sqlLayer(s))

const enqueue = Effect.gen(function*() {
  for (let from = 0; from < s.count; from += 100) {
    const ns = Array.from({ length: Math.min(100, s.count - from) }, (_, i) => from + i)
    yield* Effect.forEach(ns, (n) => Sql.OutboxRelay.enqueue(tick, { n, work: "normal" as const }), { discard: true })
      .pipe(Sql.transaction())
  }
  emit("enqueued", { count: s.count })
})

const relay = Effect.gen(function*() {
  yield* Sql.OutboxRelay.OutboxRelay
  emit("running", { pid: process.pid })
  return yield* Effect.never
})

if (s.mode === "enqueue") {
  runWorker(enqueue, Layer.merge(resources, Sql.Outbox.layerProducer({ serviceName: s.service })))
} else {
  runWorker(
    relay,
    Sql.OutboxRelay.layer({ batchSize: s.batchSize, pollInterval: "100 millis", maxBackoff: "1 second" }).pipe(
      Layer.provideMerge(resources)
    )
  )
}
