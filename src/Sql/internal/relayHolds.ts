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
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import { withLabels } from "../../Telemetry/Metrics.js"
import type { FailedEvent } from "../OutboxRelay.js"
import type { Row } from "./outboxRows.js"
import { backoff, type RelayContext } from "./relayContext.js"

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
  /** The held streams the pass retries. */
  readonly retried: ReadonlySet<string>
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
    const retried = new Set<string>()
    for (const [stream, hold] of relay.holds.streams) (retryAll || hold.until <= now ? retried : stopped).add(stream)
    return {
      stopped,
      retried,
      after: retried.size === 0 ? relay.holds.after : undefined,
      version: relay.holds.version
    }
  })

/**
 * Runs a pass counted among the relay's passes under way, from its start to its end, whatever that is.
 *
 * @internal
 */
export const counted = <A, E, R>(relay: RelayContext, self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      relay.holds.running++
      relay.holds.version++
    }),
    () => self,
    () =>
      Effect.sync(() => {
        relay.holds.running--
        relay.holds.version++
      })
  )

// The pause before the `attempts`-th retry of a stream: the `attempts`-th delay of `backoff` (capped at `maxBackoff`
// long before 64 doublings).
const pauseOf = (relay: RelayContext, attempts: number): Effect.Effect<Duration.Duration> =>
  Effect.map(
    Schedule.run(Schedule.delays(backoff(relay)), 0, Array.from({ length: Math.min(attempts, 64) }, () => undefined)),
    (delays) => Option.getOrElse(Chunk.last(delays), () => relay.settings.maxBackoff)
  )

const gauge = (stream: string, value: number) => Metric.set(withLabels(streamHeld, { stream }), value)

/**
 * What a pass that ended came to for the held streams: each stream a publish failed for (`failed`, its first failed
 * row) is held, or held again with a longer pause; each retried stream that did not fail goes on. `read` is the
 * `seq` of the last row the pass locked; `halted` says the pass ended before sending every row it locked (a
 * failure of the Bus itself), so the next one begins at the first pending row. So does the next after a pass that
 * overlapped another of the relay's (`flush` beside the loop): the rows one skipped for a stream it took for held,
 * or left to the other's locks, may belong to a stream the other released, and only a read from the first pending
 * row sends them before that stream's later rows.
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
    const holds = relay.holds.streams
    const now = yield* Clock.currentTimeMillis
    for (const [stream, event] of failed) {
      const attempts = (holds.get(stream)?.attempts ?? 0) + 1
      const pause = yield* pauseOf(relay, attempts)
      holds.set(stream, { attempts, until: now + Duration.toMillis(pause) })
      yield* gauge(stream, 1)
      yield* Effect.logWarning(
        `Outbox relay: publishing event ${event.eventId} (${event.subject}) failed, attempt ${event.attempts}: ` +
          `${event.error.message}; stream ${stream} is held: its events wait and are retried in order in ` +
          `${Duration.format(pause)}, and the events of other streams go on`
      ).pipe(Effect.annotateLogs({ stream, event_id: event.eventId }))
    }
    for (const stream of plan.retried) {
      if (failed.has(stream) || !holds.delete(stream)) continue
      yield* gauge(stream, 0)
      yield* Effect.logInfo(`Outbox relay: stream ${stream} takes events again; its held events go out in order`)
        .pipe(Effect.annotateLogs({ stream }))
    }
    // Its own start is the one change since its plan when no other pass started or ended meanwhile.
    const alone = relay.holds.running === 1 && relay.holds.version === plan.version + 1
    relay.holds.after = halted || !alone || holds.size === 0 ? undefined : read ?? plan.after
    yield* Ref.update(relay.state, (s) => ({ ...s, heldStreams: [...holds.keys()] }))
  })
