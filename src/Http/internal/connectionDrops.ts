/**
 * The connections Node's server closes as it accepts them, over `http.max_connections` (its `drop` event): each
 * counted in `http_connections_dropped_total`, and warned of in the log at most once an interval, so that a flood of
 * them is a line an interval rather than a line each.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as MetricLabel from "effect/MetricLabel"
import type * as Scope from "effect/Scope"
import { httpConnectionsDroppedTotal } from "./metrics.js"

/**
 * How often, at most, the refused connections are warned of.
 *
 * @internal
 */
export const warnEvery: Duration.Duration = Duration.seconds(10)

const connections = (count: number) => count === 1 ? "1 connection" : `${count} connections`

/**
 * The listener of the server's `drop` event, for the life of the scope: it counts the connection, and warns at once
 * of the first refused after a quiet interval; the ones refused meanwhile are summed and warned of once the interval
 * has passed (a fiber of the scope sleeps it, on Effect's clock), and none more when none came.
 *
 * @internal
 */
export const dropListener = (
  service: string | undefined,
  maxConnections: number
): Effect.Effect<() => void, never, Scope.Scope> =>
  Effect.map(FiberSet.makeRuntime<never>(), (run) => {
    const labels = service === undefined ? [] : [MetricLabel.make("service", service)]
    let unreported = 0
    let reporting = false
    const report = (first: boolean): Effect.Effect<void> =>
      Effect.suspend(() => {
        const count = unreported
        unreported = 0
        if (count === 0) {
          reporting = false
          return Effect.void
        }
        const when = first ? "" : ` in the last ${Duration.format(warnEvery)}`
        return Effect.logWarning(
          `Refused ${connections(count)} over http.max_connections (${maxConnections})${when}: the server holds ` +
            `as many as it may; a client is refused until one closes`
        ).pipe(
          Effect.zipRight(Effect.sleep(warnEvery)),
          Effect.zipRight(Effect.suspend(() => report(false)))
        )
      })
    return () => {
      httpConnectionsDroppedTotal.unsafeUpdate(1, labels)
      unreported += 1
      if (reporting) return
      reporting = true
      run(report(true))
    }
  })
