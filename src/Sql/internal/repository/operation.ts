/**
 * The frame of every repository operation: its span (`Repository.<operation>`, the statement's span its child),
 * its duration in `sql_query_duration_seconds{operation}` and its typed failure channel.
 *
 * @internal
 */
import type * as Cause from "effect/Cause"
import type * as Effect from "effect/Effect"
import * as FiberSpans from "../../../Telemetry/internal/fiberSpans.js"
import { labelsOf, measured } from "../queryMetrics.js"
import { typedFailure } from "./errors.js"

interface Instruments {
  readonly tags: ReturnType<typeof labelsOf>
  readonly handler: (cause: Cause.Cause<unknown>) => Effect.Effect<never, unknown>
  readonly span: string
  readonly spanOptions: FiberSpans.OpenOptions
}

/**
 * Runs an operation. The effect is built when it runs (`effect` is called inside), so its own steps need no
 * `suspend`.
 *
 * @internal
 */
export type RunOperation = <A, E, R>(operation: string, effect: () => Effect.Effect<A, E, R>) => Effect.Effect<
  A,
  unknown,
  R
>

/**
 * The operation runner of one repository; the span options, metric labels and failure handler of each operation
 * are built once.
 *
 * @internal
 */
export const makeRun = (table: string, metricPrefix: string): RunOperation => {
  const instruments = new Map<string, Instruments>()
  const instrumentsOf = (operation: string): Instruments => {
    let found = instruments.get(operation)
    if (found === undefined) {
      found = {
        tags: labelsOf(`${metricPrefix}.${operation}`),
        handler: typedFailure(table, operation),
        span: `Repository.${operation}`,
        spanOptions: { kind: "internal", attributes: { "db.collection.name": table }, captureStackTrace: false }
      }
      instruments.set(operation, found)
    }
    return found
  }
  return (operation, effect) => {
    const { handler, span, spanOptions, tags } = instrumentsOf(operation)
    return FiberSpans.withSpan(measured(tags, effect, handler), span, spanOptions)
  }
}
