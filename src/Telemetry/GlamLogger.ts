/**
 * The logger of GLAM services, replacing Effect's default: the Python services' console format in development
 * and their JSON lines in production, each line carrying the request id, correlation id and current span read
 * from the fiber (nobody passes them).
 *
 * Lines go to a {@link Sink}, standard output unless told otherwise. There is no file output and no rotation:
 * in containers stdout is the contract and the platform collects it.
 *
 * A log never fails the fiber that writes it: a value that throws when it is read is written as `[unrenderable]`,
 * and a sink that throws loses that line only.
 *
 * A line holds none of the credentials of the request its fiber serves, nor the secrets of the configuration in use
 * (`GlamConfig.layerSecrets`): wherever its message, annotations or cause quote one, it reads `<redacted>`.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import { hideInLog } from "../internal/requestCredentials.js"
import * as StandInLoggers from "../internal/standInLoggers.js"
import { cutText } from "../internal/text.js"
import * as Correlation from "./Correlation.js"
import {
  attempt,
  consoleTimestamp,
  escapeControl,
  indented,
  JSON_UNESCAPED,
  LINE_BREAK,
  messageAndCause,
  oneLine,
  renderValue,
  reserved,
  toJson,
  unrenderable
} from "./internal/logRender.js"
import { integerRefusal, lengthBounds } from "./internal/optionBounds.js"
import type { LogFormat } from "./TelemetryConfig.js"

// The ids a line carries, read from the fiber.
interface Ids {
  readonly requestId: Option.Option<string>
  readonly correlationId: Option.Option<string>
  readonly causationId: Option.Option<string>
  readonly span: Option.Option<Tracer.AnySpan>
}

const readIds = (context: FiberRefs.FiberRefs): Ids => ({
  requestId: FiberRefs.getOrDefault(context, Correlation.currentRequestId),
  correlationId: FiberRefs.getOrDefault(context, Correlation.currentCorrelationId),
  causationId: FiberRefs.getOrDefault(context, Correlation.currentCausationId),
  span: Context.getOption(FiberRefs.getOrDefault(context, FiberRef.currentContext), Tracer.ParentSpan)
})

/**
 * Where finished lines go (without a trailing newline).
 *
 * @since 0.1.0
 * @category models
 */
export type Sink = (line: string, level: LogLevel.LogLevel) => void

/**
 * Writes each line to standard output.
 *
 * @since 0.1.0
 * @category sinks
 */
export const stdoutSink: Sink = (line) => {
  process.stdout.write(line + "\n")
}

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The `service` field, e.g. `catalog-service`. */
  readonly service: string
  /** The `environment` field (JSON lines), the value of `app_env`. */
  readonly environment: string
  readonly format: LogFormat
  /** Defaults to {@link stdoutSink}. */
  readonly sink?: Sink | undefined
  /**
   * The longest message, id, annotation key or value (an object's JSON text) and exception of a line, in UTF-16 code
   * units, before escaping (default {@link defaultMaxFieldLength}); a longer one is cut there and followed by
   * `... (N more characters)`, never between the halves of a surrogate pair. An integer from 16 to 1,048,576, as
   * `logging.max_field_length`: another is refused with an `IllegalArgumentException` naming it ({@link make}
   * throws it, {@link layer} dies with it when built).
   */
  readonly maxFieldLength?: number | undefined
}

/**
 * The longest field of a log line by default: 16 KiB, room for a stack trace.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultMaxFieldLength = 16384

const fieldLengthRefusal = (options: Pick<Options, "maxFieldLength">) =>
  integerRefusal(
    "GlamLogger option maxFieldLength",
    "logging.max_field_length",
    lengthBounds,
    options.maxFieldLength
  )

// Within its bounds when the logger was made ({@link make} refuses another); a formatter called on its own with one
// outside them cuts at the default.
const maxOf = (options: Pick<Options, "maxFieldLength">): number => {
  const max = options.maxFieldLength
  return max !== undefined && Number.isInteger(max) && max >= lengthBounds.min && max <= lengthBounds.max
    ? max
    : defaultMaxFieldLength
}

/**
 * The level name as Python's `logging` prints it (`WARNING`, `CRITICAL`); `TRACE` has no Python equivalent.
 *
 * @since 0.1.0
 * @category formatting
 */
export const levelName = (level: LogLevel.LogLevel): string => {
  switch (level._tag) {
    case "Warning":
      return "WARNING"
    case "Fatal":
      return "CRITICAL"
    default:
      return level.label
  }
}

/**
 * Renders one JSON line with the seed's fields: `timestamp`, `service`, `level`, `message`, `environment`, then
 * `request_id`, `correlation_id`, `causation_id`, `trace_id`, `span_id` when known, the log annotations as top-level
 * keys, and `exception` (the pretty-printed cause) when the log carries one. A log of a cause alone has its error's
 * message. Every line break is escaped, U+0085, U+2028 and U+2029 included, which `JSON.stringify` writes as they
 * are.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatJson = (
  options: Pick<Options, "service" | "environment" | "maxFieldLength">,
  log: Logger.Logger.Options<unknown>
): string => {
  const max = maxOf(options)
  const ids = readIds(log.context)
  const { cause, message } = messageAndCause(log)
  const record: Record<string, unknown> = {
    timestamp: log.date.toISOString(),
    service: options.service,
    level: levelName(log.logLevel),
    message: cutText(message, max),
    environment: options.environment
  }
  if (Option.isSome(ids.requestId)) record.request_id = cutText(ids.requestId.value, max)
  if (Option.isSome(ids.correlationId)) record.correlation_id = cutText(ids.correlationId.value, max)
  if (Option.isSome(ids.causationId)) record.causation_id = cutText(ids.causationId.value, max)
  if (Option.isSome(ids.span)) {
    record.trace_id = ids.span.value.traceId
    record.span_id = ids.span.value.spanId
  }
  for (const [name, annotation] of log.annotations) {
    if (reserved.has(name)) continue
    const key = cutText(name, max)
    const value = jsonField(annotation, max)
    // Defined, not assigned: an annotation named "__proto__" is a field, not the record's prototype.
    if (key === "__proto__") Object.defineProperty(record, key, { value, enumerable: true, writable: true })
    else record[key] = value
  }
  if (cause !== undefined) record.exception = cutText(cause, max)
  return toJson(record).replace(JSON_UNESCAPED, escapeControl)
}

// An annotation as the JSON line writes it: a string cut to `max`; an object whose JSON text is longer than `max`
// as that text, cut; other values as they are.
const jsonField = (value: unknown, max: number): unknown => {
  if (typeof value === "string") return cutText(value, max)
  if (typeof value !== "object" || value === null) return value
  const text = toJson(value)
  return text.length > max ? cutText(text, max) : value
}

// What would let a key or value of the console bracket read as more than one field or end the bracket (`] - `):
// whitespace or `=`; a leading quote would read as the start of a quoted text. An empty text is quoted, so that a
// field always has a value. A JSON object's text, a path, a backslash are written as they are.
const NEEDS_QUOTES = /^$|^"|[\s=\u0085\u2028\u2029]/

// A key or value of the console bracket: as it is, or quoted with its quotes and backslashes escaped.
const consoleText = (text: string): string =>
  NEEDS_QUOTES.test(text) ? `"${text.replace(/["\\]/g, (char) => `\\${char}`)}"` : text

const consoleField = (key: string, value: string): string => `${consoleText(key)}=${consoleText(value)}`

/**
 * Renders one console line in the seed's format:
 * `2024-01-15 10:30:45 - catalog-service - INFO - [request_id=... correlation_id=... key=value] - message`,
 * the bracket omitted when there is no context, the pretty-printed cause on the following lines, indented by two
 * spaces. The record is one line: a control character in it (a line break in a message or a value) is written as
 * an escape (`\n`, `\u001b`), in the cause too. A failure logged on its own has its error's message as the record:
 * its first line there, the others indented below it as the cause's are.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatConsole = (
  options: Pick<Options, "service" | "maxFieldLength">,
  log: Logger.Logger.Options<unknown>
): string => {
  const max = maxOf(options)
  const field = (key: string, value: string) => consoleField(cutText(key, max), cutText(value, max))
  const ids = readIds(log.context)
  const parts: Array<string> = []
  if (Option.isSome(ids.requestId)) parts.push(field("request_id", ids.requestId.value))
  if (Option.isSome(ids.correlationId)) parts.push(field("correlation_id", ids.correlationId.value))
  if (Option.isSome(ids.causationId)) parts.push(field("causation_id", ids.causationId.value))
  for (const [key, value] of log.annotations) {
    if (!reserved.has(key)) parts.push(field(key, renderValue(value)))
  }
  let line = `${consoleTimestamp(log.date)} - ${options.service} - ${levelName(log.logLevel)}`
  if (parts.length > 0) line += ` - [${parts.join(" ")}]`
  const rendered = messageAndCause(log)
  const message = cutText(rendered.message, max)
  const cause = rendered.cause === undefined ? undefined : cutText(rendered.cause, max)
  const fromError = rendered.fromError
  // An error's own message (a startup error listing every problem) keeps its lines, indented below the record as
  // the cause is; the record itself is one line.
  const [first = "", ...rest] = fromError ? message.split(LINE_BREAK) : [message]
  const below = [...rest.map((l) => `  ${oneLine(l)}`), ...(cause === undefined ? [] : [indented(cause)])]
  const record = oneLine(`${line} - ${first}`)
  return below.length === 0 ? record : `${record}\n${below.join("\n")}`
}

/**
 * A logger writing the seed's console or JSON lines to a sink. Throws an `IllegalArgumentException` naming
 * `maxFieldLength` when it is not an integer from 16 to 1,048,576.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Logger.Logger<unknown, void> => {
  const refused = fieldLengthRefusal(options)
  if (refused !== undefined) throw refused
  const sink = options.sink ?? stdoutSink
  const render = options.format === "json" ? formatJson : formatConsole
  return Logger.make((log) => {
    // Whatever is logged, and whatever the sink does, a log never fails the fiber that writes it.
    let line: string
    try {
      line = render(options, hideInLog(log))
    } catch {
      line = render(options, { ...log, message: unrenderable, annotations: HashMap.empty(), cause: Cause.empty })
    }
    attempt(() => sink(line, log.logLevel), undefined)
  })
}

/**
 * Replaces Effect's default logger (or the one an earlier `layer` left in the fiber) with {@link make}'s and sets the
 * minimum level (default `INFO`). A
 * `maxFieldLength` outside 16 to 1,048,576 is a defect when the layer is built (an `IllegalArgumentException` naming
 * it).
 *
 * @example
 * ```ts
 * import { Effect, LogLevel } from "effect"
 * import { GlamLogger } from "@glam/shared/Telemetry"
 *
 * const lines: Array<string> = []
 * Effect.log("hello").pipe(
 *   Effect.provide(GlamLogger.layer({
 *     service: "catalog-service",
 *     environment: "dev",
 *     format: "console",
 *     level: LogLevel.Debug,
 *     sink: (line) => lines.push(line)
 *   }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options & { readonly level?: LogLevel.LogLevel | undefined }): Layer.Layer<never> => {
  const refused = fieldLengthRefusal(options)
  if (refused !== undefined) return Layer.die(refused)
  return Layer.merge(
    StandInLoggers.layer(Logger.defaultLogger, make(options)),
    Logger.minimumLogLevel(options.level ?? LogLevel.Info)
  )
}
