/**
 * The streams the relay holds back. A publish that fails for its stream (full with `discard: new`, missing, its
 * JetStream storage full) holds that stream: its later rows are not sent, and it is retried after a pause of its
 * own, growing as `backoff` does, while the rows of every other stream go on. A pass that retries a held stream
 * reads the outbox from its first pending row; the others begin after the last row the pass before read.
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Metric from "effect/Metric"
import type * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import { withLabels } from "../../Telemetry/Metrics.js"
import type { FailedEvent } from "../OutboxRelay.js"
import type { Row } from "./outboxRows.js"
import { backoff, type Hold, type RelayContext } from "./relayContext.js"

/**
 * `outbox_relay_stream_held{stream}`: 1 while the relay holds back the rows of the stream (a publish to it failed),
 * 0 once they go out again. The label is a stream name: the Bus's declared streams, or a name a writer gave.
 *
 * @internal
 */
export const streamHeld: Metric.Metric.Gauge<number> = Metric.gauge("outbox_relay_stream_held", {
  description: "1 while the outbox relay holds back the events of a stream whose publishes fail"
})

/**
 * The stream a row's publish goes to: the declared stream the Bus gives its subject, else the one its writer named;
 * `undefined` when neither is known (its failure then stops the pass, as a failure of the Bus does).
 *
 * @internal
 */
export const streamOfRow = (relay: RelayContext, row: Row): string | undefined =>
  Option.getOrUndefined(relay.bus.streamHolding(row.subject)) ?? row.stream ?? undefined

/**
 * What a pass does with the held streams.
 *
 * @internal
 */
export interface PassHolds {
  /** The streams whose rows the pass does not send: held and not yet due, or failed in this pass. */
  readonly stopped: Set<string>
  /**
   * The held streams the pass retries, each with the hold the plan saw: the pass releases or renews that hold only,
   * never one another pass set after the plan (each hold is a value of its own, told apart by identity).
   */
  readonly retried: ReadonlyMap<string, Hold>
  /** The `seq` the pass begins after; `undefined`: at the first pending row. */
  readonly after: string | undefined
  /** The relay's `holds.version` when the plan was made. */
  readonly version: number
}

/**
 * The plan of the next pass: every held stream whose pause has passed is retried (all of them with `retryAll`, as
 * `flush` does), and a pass that retries one begins at the first pending row.
 *
 * @internal
 */
export const begin = (relay: RelayContext, retryAll: boolean): Effect.Effect<PassHolds> =>
  Effect.map(Clock.currentTimeMillis, (now) => {
    const stopped = new Set<string>()
    const retried = new Map<string, Hold>()
    for (const [stream, hold] of relay.holds.streams) {
      if (retryAll || hold.until <= now) retried.set(stream, hold)
      else stopped.add(stream)
    }
    return {
      stopped,
      retried,
      after: retried.size === 0 ? relay.holds.after : undefined,
      version: relay.holds.version
    }
  })

/**
 * Runs a pass counted among the relay's passes under way, and among those retrying each stream its plan retries,
 * from its start to its end, whatever that is.
 *
 * @internal
 */
export const counted = <A, E, R>(
  relay: RelayContext,
  plan: PassHolds,
  self: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => {
  const { holds } = relay
  const retrying = (step: number) => {
    for (const stream of plan.retried.keys()) {
      const count = (holds.retrying.get(stream) ?? 0) + step
      if (count > 0) holds.retrying.set(stream, count)
      else holds.retrying.delete(stream)
    }
  }
  return Effect.acquireUseRelease(
    Effect.sync(() => {
      holds.running++
      holds.version++
      retrying(1)
    }),
    () => self,
    () =>
      Effect.sync(() => {
        holds.running--
        holds.version++
        retrying(-1)
      })
  )
}

// The pause before the `attempts`-th retry of a stream: the `attempts`-th delay of `backoff` (capped at `maxBackoff`
// long before 64 doublings).
const pauseOf = (relay: RelayContext, attempts: number): Effect.Effect<Duration.Duration> =>
  Effect.map(
    Schedule.run(Schedule.delays(backoff(relay)), 0, Array.from({ length: Math.min(attempts, 64) }, () => undefined)),
    (delays) => Option.getOrElse(Chunk.last(delays), () => relay.settings.maxBackoff)
  )

// What a pass's end says of a stream once the holds have changed.
type Said =
  | { readonly _tag: "held"; readonly stream: string; readonly event: FailedEvent; readonly pause: Duration.Duration }
  | { readonly _tag: "released"; readonly stream: string }

const say = (said: Said): Effect.Effect<void> =>
  said._tag === "held"
    ? Effect.logWarning(
      `Outbox relay: publishing event ${said.event.eventId} (${said.event.subject}) failed, attempt ` +
        `${said.event.attempts}: ${said.event.error.message}; stream ${said.stream} is held: its events wait and ` +
        `are retried in order in ${Duration.format(said.pause)}, and the events of other streams go on`
    ).pipe(Effect.annotateLogs({ stream: said.stream, event_id: said.event.eventId }))
    : Effect.logInfo(`Outbox relay: stream ${said.stream} takes events again; its held events go out in order`)
      .pipe(Effect.annotateLogs({ stream: said.stream }))

// The pauses a failed stream's hold may get, drawn (jittered) before the holds change: renewed from the hold the
// plan saw, or a first one (the same when the plan saw none).
interface Pauses {
  readonly renewed: Duration.Duration
  readonly first: Duration.Duration
}

// The change `end` makes, in one step: the holds, the gauge and `after`, with no other pass's end between what it
// reads of a hold and what it writes. A hold other than the one the plan saw was set by another pass after the plan:
// it stands, with its pause, whatever this pass came to for its stream.
const settle = (
  relay: RelayContext,
  plan: PassHolds,
  failed: ReadonlyMap<string, FailedEvent>,
  pauses: ReadonlyMap<string, Pauses>,
  read: string | undefined,
  halted: boolean,
  now: number,
  labels: ReadonlyArray<MetricLabel.MetricLabel>
): Array<Said> => {
  const holds = relay.holds.streams
  const said: Array<Said> = []
  for (const [stream, event] of failed) {
    const current = holds.get(stream)
    if (current !== undefined && current !== plan.retried.get(stream)) {
      said.push({ _tag: "held", stream, event, pause: Duration.millis(Math.max(0, current.until - now)) })
      continue
    }
    const { first, renewed } = pauses.get(stream)!
    const pause = current === undefined ? first : renewed
    holds.set(stream, { attempts: (current?.attempts ?? 0) + 1, until: now + Duration.toMillis(pause) })
    said.push({ _tag: "held", stream, event, pause })
  }
  // A stream another pass under way retries is released by the last of them to end: this one may not have read its
  // rows (locked by the other, whose retry may yet fail).
  for (const [stream, seen] of plan.retried) {
    if (failed.has(stream) || holds.get(stream) !== seen || (relay.holds.retrying.get(stream) ?? 0) > 1) continue
    holds.delete(stream)
    said.push({ _tag: "released", stream })
  }
  for (const { stream } of said) withLabels(streamHeld, { stream }).unsafeUpdate(holds.has(stream) ? 1 : 0, labels)
  // Its own start is the one change since its plan when no other pass started or ended meanwhile.
  const alone = relay.holds.running === 1 && relay.holds.version === plan.version + 1
  relay.holds.after = halted || !alone || holds.size === 0 ? undefined : read ?? plan.after
  return said
}

/**
 * What a pass that ended came to for the held streams: each stream a publish failed for (`failed`, its first failed
 * row) is held, or held again with a longer pause; each retried stream that did not fail goes on, once no other
 * pass under way retries it. Only the hold the plan saw is renewed or released: one another pass set after the plan
 * (`flush` beside the loop, both retrying the stream) stands until its own pause has passed. `read` is the `seq` of
 * the last row the pass locked; `halted` says the pass ended before sending every row it locked (a failure of the
 * Bus itself), so the next one begins at the first pending row. So does the next after a pass that overlapped
 * another of the relay's: the rows one skipped for a stream it took for held, or left to the other's locks, may
 * belong to a stream the other released, and only a read from the first pending row sends them before that
 * stream's later rows.
 *
 * @internal
 */
export const end = (
  relay: RelayContext,
  plan: PassHolds,
  failed: ReadonlyMap<string, FailedEvent>,
  read: string | undefined,
  halted: boolean
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const pauses = new Map<string, Pauses>()
    for (const stream of failed.keys()) {
      const seen = plan.retried.get(stream)
      const renewed = yield* pauseOf(relay, (seen?.attempts ?? 0) + 1)
      pauses.set(stream, { renewed, first: seen === undefined ? renewed : yield* pauseOf(relay, 1) })
    }
    const said = yield* Effect.withFiberRuntime<Array<Said>>((fiber) =>
      Effect.succeed(
        settle(relay, plan, failed, pauses, read, halted, now, fiber.getFiberRef(FiberRef.currentMetricLabels))
      )
    )
    yield* Effect.forEach(said, say, { discard: true })
    yield* Ref.update(relay.state, (s) => ({ ...s, heldStreams: [...relay.holds.streams.keys()] }))
  })
