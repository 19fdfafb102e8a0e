/**
 * The service of the database-restart scenario: `count` business transactions, `concurrency` at once, each inserting
 * a row of `items` and enqueuing its event through the outbox (`Sql.OutboxRelay.enqueue`, the row keeps the event's
 * id), with the relay of `Sql.OutboxRelay` running in the same process. A transaction that fails is reported with
 * its error and tried again until it commits; a retry refused as a duplicate row (`ConflictError`) means an earlier
 * attempt whose outcome was unknown had committed. A failure that is not a typed error (a defect) is reported too.
 * After the last commit it keeps running, so that its relay publishes what is left, until it is stopped.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Cause, Effect, Exit, Layer, Schedule } from "effect"
import * as Errors from "../../../src/Errors/index.js"
import * as Sql from "../../../src/Sql/index.js"
import {
  busLayer,
  describeError,
  emit,
  runWorker,
  settings,
  sqlLayer,
  tickEvent,
  type WorkerSettings
} from "./common.js"

interface ServiceSettings extends WorkerSettings {
  readonly count: number
  readonly concurrency: number
  /** A pause before each transaction, which spreads the burst over the seconds the restarts take place in. */
  readonly pauseMs: number
}

const s = settings<ServiceSettings>()
const { tick } = tickEvent(s.stream)

/** The row id of `n`: fixed, so that a retry of a committed transaction is refused by the primary key. */
const itemId = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`

let committed = 0
let errors = 0
let defects = 0

const writeOnce = (n: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const eventId = yield* Sql.OutboxRelay.enqueue(tick, { n, work: "normal" as const })
    yield* sql`INSERT INTO items (id, n, event_id) VALUES (${itemId(n)}, ${n}, ${eventId})`
  }).pipe(Sql.transaction({ retry: false }))

/** One business write, tried until it has committed (now or in an attempt whose outcome was unknown). */
const write = (n: number) =>
  Effect.gen(function*() {
    yield* Effect.sleep(s.pauseMs)
    for (let attempt = 1;; attempt++) {
      const exit = yield* Effect.exit(writeOnce(n))
      if (Exit.isSuccess(exit)) break
      const failure = Cause.failureOption(exit.cause)
      if (failure._tag === "None") {
        defects++
        emit("defect", { n, attempt, cause: Cause.pretty(exit.cause) })
      } else {
        errors++
        emit("error", { n, attempt, ...describeError(failure.value) })
        if (attempt > 1 && failure.value instanceof Errors.ConflictError) break
      }
      yield* Effect.sleep("100 millis")
    }
    committed++
    if (committed % 100 === 0) emit("progress", { committed })
  })

const program = Effect.gen(function*() {
  const relay = yield* Sql.OutboxRelay.OutboxRelay
  emit("running", { pid: process.pid })
  yield* Effect.forEach(Array.from({ length: s.count }, (_, n) => n), write, {
    concurrency: s.concurrency,
    discard: true
  })
  emit("done", { committed, errors, defects })
  // The relay's counters, now and then, for the test's log.
  yield* relay.status.pipe(
    Effect.tap((status) => Effect.sync(() => emit("relay", { ...status }))),
    Effect.repeat(Schedule.spaced("1 second"))
  )
})

runWorker(
  program,
  Sql.OutboxRelay.layer({ batchSize: 100, pollInterval: "100 millis", maxBackoff: "1 second" }).pipe(
    Layer.provideMerge(Layer.mergeAll(busLayer(s), sqlLayer(s), Sql.Outbox.layerProducer({ serviceName: s.service })))
  )
)
