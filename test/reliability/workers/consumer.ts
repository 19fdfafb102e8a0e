/**
 * A consumer instance of the scenarios: one durable subscription to the scenario's `tick` event, whose handler does
 * what each event's `work` says (`normal`; `fail`: a non-retryable error; `slow`: longer than the ack wait; `hang`:
 * never returns, on its first delivery or as `settings.hang` says, and reports its interruption; `long`: longer than
 * the drain timeout). With `settings.postgres` it handles
 * in one transaction with the inbox: `Sql.Inbox.markHandled`, then the effect, a row of `effects`. It reports each
 * delivery, and each handling that committed.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Duration, Effect, Layer } from "effect"
import * as Bus from "../../../src/Bus/Bus.js"
import { ValidationError } from "../../../src/Errors/index.js"
import * as Sql from "../../../src/Sql/index.js"
import { busLayer, emit, runWorker, settings, sqlLayer, tickEvent, type WorkerSettings } from "./common.js"

interface ConsumerSettings extends WorkerSettings {
  readonly durable: string
  readonly concurrency?: number
  readonly batchSize?: number
  readonly ackWaitMs?: number
  readonly maxDeliver?: number
  readonly handlerTimeoutMs?: number
  readonly drainTimeoutMs?: number
  /** How long a `normal` handling takes (default 0). */
  readonly normalMs?: number
  /** How long a `slow` or `long` handling takes. */
  readonly slowMs?: number
  /** When a `hang` handling never returns: on an event's first delivery (the default), on every one, or never. */
  readonly hang?: "first" | "always" | "never"
}

const s = settings<ConsumerSettings>()
const { tick } = tickEvent(s.stream)

const facts = (event: Bus.ReceivedEvent<typeof tick.schema.Type>) => ({
  n: event.payload.n,
  work: event.payload.work,
  delivery: event.delivery.deliveryCount,
  pid: process.pid,
  at: Date.now()
})

const workFor = (event: Bus.ReceivedEvent<typeof tick.schema.Type>): Effect.Effect<void, ValidationError> => {
  switch (event.payload.work) {
    case "fail":
      return Effect.fail(new ValidationError({ message: "refused by the handler", details: { reason: "poison" } }))
    case "hang":
      return s.hang === "always" || (s.hang !== "never" && event.delivery.deliveryCount === 1)
        ? Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => emit("interrupted", facts(event)))))
        : Effect.void
    case "slow":
    case "long":
      return Effect.sleep(Duration.millis(s.slowMs ?? 0))
    default:
      return s.normalMs === undefined ? Effect.void : Effect.sleep(Duration.millis(s.normalMs))
  }
}

const handleInMemory = (event: Bus.ReceivedEvent<typeof tick.schema.Type>) =>
  Effect.gen(function*() {
    emit("delivery", facts(event))
    yield* workFor(event)
    emit("handled", facts(event))
  })

const handleWithInbox = (event: Bus.ReceivedEvent<typeof tick.schema.Type>) =>
  Effect.gen(function*() {
    emit("delivery", facts(event))
    const sql = yield* SqlClient.SqlClient
    const effect = yield* Effect.gen(function*() {
      if (!(yield* Sql.Inbox.markHandled(s.durable, event.envelope.event_id))) return false
      yield* workFor(event)
      yield* sql`INSERT INTO effects (n, event_id, pid, delivery) VALUES (${event.payload.n}, ${event.envelope.event_id}, ${process.pid}, ${event.delivery.deliveryCount})`
      return true
    }).pipe(Sql.transaction())
    emit("handled", { ...facts(event), effect })
  })

const subscribe = <E, R>(
  handler: (event: Bus.ReceivedEvent<typeof tick.schema.Type>) => Effect.Effect<void, E, R>
): Effect.Effect<void, unknown, Bus.Bus | R> =>
  Effect.gen(function*() {
    yield* Bus.subscribe(tick, {
      durable: s.durable,
      concurrency: s.concurrency ?? 4,
      batchSize: s.batchSize ?? 16,
      ackWait: Duration.millis(s.ackWaitMs ?? 30_000),
      maxDeliver: s.maxDeliver ?? 20,
      backoff: ["200 millis"],
      handlerTimeout: Duration.millis(s.handlerTimeoutMs ?? 300_000),
      drainTimeout: Duration.millis(s.drainTimeoutMs ?? 10_000)
    }, handler)
    emit("subscribed", { pid: process.pid })
    return yield* Effect.never
  }).pipe(Effect.scoped)

if (s.postgres === undefined) runWorker(subscribe(handleInMemory), busLayer(s))
else runWorker(subscribe(handleWithInbox), Layer.merge(busLayer(s), sqlLayer(s)))
