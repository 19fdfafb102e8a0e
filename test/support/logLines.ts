/**
 * A logger that keeps what it is given as lines: the level, the message (a message of one part as that part), the
 * annotations and the request's ids (`Correlation`) of the fiber that logged it.
 */
import * as FiberRefs from "effect/FiberRefs"
import * as HashMap from "effect/HashMap"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Correlation from "../../src/Telemetry/Correlation.js"

export interface Line {
  readonly level: string
  readonly message: unknown
  readonly annotations: Record<string, unknown>
  readonly requestId: string | undefined
  readonly correlationId: string | undefined
}

/** A logger pushing each line it is given onto `lines`. */
export const capture = (lines: Array<Line>): Logger.Logger<unknown, void> =>
  Logger.make<unknown, void>(({ annotations, context, logLevel, message }) => {
    const id = (ref: typeof Correlation.currentRequestId) => Option.getOrUndefined(FiberRefs.getOrDefault(context, ref))
    lines.push({
      level: logLevel.label,
      message: Array.isArray(message) && message.length === 1 ? message[0] : message,
      annotations: Object.fromEntries(HashMap.toEntries(annotations)),
      requestId: id(Correlation.currentRequestId),
      correlationId: id(Correlation.currentCorrelationId)
    })
  })
