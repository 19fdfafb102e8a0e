/**
 * What every part of a running relay shares: its Bus, its own database client, its settings, its counters and the
 * subjects and streams it has published to.
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import type { Bus } from "../../Bus/Bus.js"
import { quoteValue } from "../../internal/text.js"
import type { RelayOptions, RelayStatus } from "../OutboxRelay.js"
import { maxRetentionMillis, maxWaitMillis, millisOf, waitValid } from "./configValues.js"

/** @internal */
export const defaults = {
  pollInterval: Duration.millis(500),
  batchSize: 1000,
  maxInFlight: 64,
  retention: Duration.days(7),
  purgeInterval: Duration.hours(1),
  flushTimeout: Duration.seconds(5),
  backlogInterval: Duration.seconds(5),
  maxBackoff: Duration.seconds(30)
} as const

/** @internal */
export interface Settings {
  readonly enabled: boolean
  readonly listen: boolean
  readonly pollInterval: Duration.Duration
  readonly batchSize: number
  readonly maxInFlight: number
  readonly retention: Option.Option<Duration.Duration>
  readonly purgeInterval: Duration.Duration
  readonly flushTimeout: Duration.Duration
  readonly backlogInterval: Duration.Duration
  readonly maxBackoff: Duration.Duration
}

// An option given in code, held to the bound of its config key: another is a defect when the relay is built (an
// `IllegalArgumentException` naming it), as a pause of zero would run a loop back to back and one past 24 days
// would never end.
const durationOf = (
  option: string,
  input: Duration.DurationInput | undefined,
  fallback: Duration.Duration,
  valid: (millis: number) => boolean,
  bound: string
): Duration.Duration => {
  if (input === undefined) return fallback
  if (!valid(millisOf(input))) {
    throw new Cause.IllegalArgumentException(
      `Invalid outbox relay option ${option}: must be ${bound}, got ${
        Duration.isDuration(input) ? Duration.format(input) : quoteValue(input, 64)
      }`
    )
  }
  return Duration.decode(input)
}

const wait = (option: string, input: Duration.DurationInput | undefined, fallback: Duration.Duration) =>
  durationOf(option, input, fallback, waitValid, "a positive duration of at most 24 days")

/** @internal */
export const settingsOf = (options: RelayOptions): Settings => ({
  enabled: options.enabled ?? true,
  listen: options.listen ?? true,
  pollInterval: wait("pollInterval", options.pollInterval, defaults.pollInterval),
  batchSize: Math.max(1, Math.floor(options.batchSize ?? defaults.batchSize)),
  maxInFlight: Math.max(1, Math.floor(options.maxInFlight ?? defaults.maxInFlight)),
  retention: options.retention === "forever"
    ? Option.none()
    : Option.some(durationOf(
      "retention",
      options.retention,
      defaults.retention,
      (millis) => millis >= 0 && millis <= maxRetentionMillis,
      "forever, or a duration of at most 100 years"
    )),
  purgeInterval: wait("purgeInterval", options.purgeInterval, defaults.purgeInterval),
  flushTimeout: durationOf(
    "flushTimeout",
    options.flushTimeout,
    defaults.flushTimeout,
    (millis) => millis >= 0 && millis <= maxWaitMillis,
    "a duration of at most 24 days"
  ),
  backlogInterval: wait("backlogInterval", options.backlogInterval, defaults.backlogInterval),
  maxBackoff: wait("maxBackoff", options.maxBackoff, defaults.maxBackoff)
})

/** @internal */
export interface State extends RelayStatus {
  /** The table was seen: the idle loop checks for pending rows without checking for the table first. */
  readonly tableFound: boolean
  /** Whether the table has `failed_at` (rows can be set aside); `undefined` until the table was seen. */
  readonly failedAt: boolean | undefined
}

/** @internal */
export const initialState: State = {
  running: false,
  listening: false,
  listens: 0,
  tableFound: false,
  failedAt: undefined,
  tableMissing: false,
  polls: 0,
  published: 0,
  duplicates: 0,
  failures: 0,
  unpublishable: 0,
  heldStreams: []
}

/** @internal */
export interface RelayContext {
  readonly bus: Bus
  readonly sql: SqlClient.SqlClient
  readonly settings: Settings
  readonly state: Ref.Ref<State>
  /**
   * The subjects this relay has published to, and the streams (each as its name after a space): their rows can be
   * sent without waiting for the Bus.
   */
  readonly subjects: Set<string>
  /** The streams whose rows wait (`relayHolds.ts`), and where the next pass may begin. */
  readonly holds: Holds
  /** The relay's passes run one at a time ({@link alone}). */
  readonly passes: Passes
}

/**
 * A stream the relay holds back: a publish to it failed, and its rows wait until `until`.
 *
 * @internal
 */
export interface Hold {
  /** Failed retries in a row, the first failure counted: the pause before the next grows with it. */
  readonly attempts: number
  /** When its rows are sent again (epoch millis of the relay's clock). */
  readonly until: number
}

/**
 * The relay's held streams, by name, and the `seq` the next pass may begin after while they are held: every pending
 * row at or below it belongs to a held stream (or was locked by another relay, or committed after the pass read
 * past it), so a pass reads the rows of a held stream once per retry, not once per poll.
 *
 * @internal
 */
export interface Holds {
  readonly streams: Map<string, Hold>
  after: string | undefined
}

/** @internal */
export const makeHolds = (): Holds => ({ streams: new Map(), after: undefined })

/**
 * What keeps the relay's passes one at a time. `permit`: held by the pass under way. `turnstile`: held while waiting
 * for the permit, so that the loop, which asks for the permit again as soon as it gave it back (a full batch), waits
 * behind a flush that already waits instead of passing it (a semaphore's waiters are not served in order).
 *
 * @internal
 */
export interface Passes {
  readonly permit: Effect.Semaphore
  readonly turnstile: Effect.Semaphore
  /** Whether a pass holds the permit. */
  busy: boolean
}

/** @internal */
export const makePasses: Effect.Effect<Passes> = Effect.zipWith(
  Effect.makeSemaphore(1),
  Effect.makeSemaphore(1),
  (permit, turnstile) => ({ permit, turnstile, busy: false })
)

/**
 * Runs `self` as the relay's one pass under way (the loop's step, a `flush`, the shutdown flush), once the one under
 * way has ended: a pass never skips a row another pass of the relay has locked (mid-publish, or a held stream's
 * retry) to send that stream's later rows before it. The wait is interruptible.
 *
 * @internal
 */
export const alone = <A, E, R>(relay: RelayContext, self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  const { passes } = relay
  return Effect.uninterruptibleMask((restore) =>
    Effect.zipRight(
      restore(passes.turnstile.withPermits(1)(passes.permit.take(1))),
      Effect.ensuring(
        restore(Effect.zipRight(Effect.sync(() => passes.busy = true), self)),
        Effect.zipRight(Effect.sync(() => passes.busy = false), passes.permit.release(1))
      )
    )
  )
}

/**
 * The pauses after failed steps, and before a held stream is retried: from the poll interval (at least 100 ms),
 * doubling up to `maxBackoff`, jittered.
 *
 * @internal
 */
export const backoff = (relay: RelayContext) =>
  Schedule.exponential(Duration.max(relay.settings.pollInterval, Duration.millis(100)), 2).pipe(
    Schedule.union(Schedule.spaced(relay.settings.maxBackoff)),
    Schedule.jittered
  )

/**
 * Runs a statement on the relay's own client and outside any transaction of a caller (`flush` may be called from
 * one): each pass commits on its own.
 *
 * @internal
 */
export const own =
  (relay: RelayContext) => <A, E>(self: Effect.Effect<A, E, SqlClient.SqlClient>): Effect.Effect<A, E> =>
    self.pipe(
      Effect.provideService(SqlClient.SqlClient, relay.sql),
      Effect.mapInputContext((context: Context.Context<never>) =>
        Context.omit(SqlClient.TransactionConnection)(context) as Context.Context<never>
      )
    )

/**
 * Runs without tracing: the cheap checks and chores of an idle relay.
 *
 * @internal
 */
export const quiet = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withTracerEnabled(self, false)
