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
  /** The held streams the pass retries, each with its hold: the pass releases or renews it. */
  readonly retried: ReadonlyMap<string, Hold>
  /** The `seq` the pass begins after; `undefined`: at the first pending row. */
  readonly after: string | undefined
}

/**
 * The plan of the next pass: every held stream whose pause has passed is retried (all of them with `retryAll`, as
 * `flush` does), and a pass that retries one begins at the first pending row. Made inside `alone` (`relayContext.ts`)
 * with the pass it plans: no other pass of the relay changes the holds between the plan and that pass's end.
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
    return { stopped, retried, after: retried.size === 0 ? relay.holds.after : undefined }
  })

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

// The change `end` makes, in one step: the holds, the gauge and `after`, with no interruption between what it reads
// of a hold and what it writes. `pauses`: the pause each failed stream's hold gets.
const settle = (
  relay: RelayContext,
  plan: PassHolds,
  failed: ReadonlyMap<string, FailedEvent>,
  pauses: ReadonlyMap<string, Duration.Duration>,
  read: string | undefined,
  halted: boolean,
  now: number,
  labels: ReadonlyArray<MetricLabel.MetricLabel>
): Array<Said> => {
  const holds = relay.holds.streams
  const said: Array<Said> = []
  for (const [stream, event] of failed) {
    const pause = pauses.get(stream)!
    holds.set(stream, {
      attempts: (plan.retried.get(stream)?.attempts ?? 0) + 1,
      until: now + Duration.toMillis(pause)
    })
    said.push({ _tag: "held", stream, event, pause })
  }
  for (const stream of plan.retried.keys()) {
    if (failed.has(stream)) continue
    holds.delete(stream)
    said.push({ _tag: "released", stream })
  }
  for (const { stream } of said) withLabels(streamHeld, { stream }).unsafeUpdate(holds.has(stream) ? 1 : 0, labels)
  relay.holds.after = halted || holds.size === 0 ? undefined : read ?? plan.after
  return said
}

/**
 * What a pass that ended came to for the held streams: each stream a publish failed for (`failed`, its first failed
 * row) is held, or held again with a longer pause; each retried stream that did not fail goes on. `read` is the `seq`
 * of the last row the pass locked; `halted` says the pass ended before sending every row it locked (a failure of the
 * Bus itself), so the next one begins at the first pending row.
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
    const pauses = new Map<string, Duration.Duration>()
    for (const stream of failed.keys()) {
      pauses.set(stream, yield* pauseOf(relay, (plan.retried.get(stream)?.attempts ?? 0) + 1))
    }
    const said = yield* Effect.withFiberRuntime<Array<Said>>((fiber) =>
      Effect.succeed(
        settle(relay, plan, failed, pauses, read, halted, now, fiber.getFiberRef(FiberRef.currentMetricLabels))
      )
    )
    yield* Effect.forEach(said, say, { discard: true })
    yield* Ref.update(relay.state, (s) => ({ ...s, heldStreams: [...relay.holds.streams.keys()] }))
  })
