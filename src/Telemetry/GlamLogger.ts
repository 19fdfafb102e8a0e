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
 * @since 0.1.0
 */
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import * as HashMap from "effect/HashMap"
import * as Inspectable from "effect/Inspectable"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Tracer from "effect/Tracer"
import * as Correlation from "./Correlation.js"
import type { LogFormat } from "./TelemetryConfig.js"

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

// Fields the logger owns; annotations with these names never overwrite them.
const reserved = new Set([
  "timestamp",
  "service",
  "level",
  "message",
  "environment",
  "request_id",
  "correlation_id",
  "causation_id",
  "trace_id",
  "span_id",
  "exception"
])

// What a value is written as when reading it throws (a getter, a `toJSON`, a `toString`): that value only, the rest
// of the line is kept.
const unrenderable = "[unrenderable]"

const attempt = <A>(f: () => A, fallback: A): A => {
  try {
    return f()
  } catch {
    return fallback
  }
}

const jsonReplacer = () => {
  // The objects above the one being written: a reference to one of them is a cycle, while an object met twice
  // elsewhere in the value (two fields holding the same object) is written twice.
  const ancestors: Array<object> = []
  return function(this: unknown, _key: string, value: unknown): unknown {
    if (typeof value === "bigint") return value.toString()
    if (typeof value === "symbol" || typeof value === "function") return String(value)
    if (typeof value !== "object" || value === null) return value
    while (ancestors.length > 0 && ancestors[ancestors.length - 1] !== this) ancestors.pop()
    if (ancestors.includes(value)) return "[Circular]"
    const written: unknown = Inspectable.isRedactable(value)
      ? Inspectable.redact(value)
      : value instanceof Error
      ? { name: value.name, message: value.message }
      : value
    if (typeof written === "object" && written !== null) ancestors.push(written)
    return written
  }
}

// A copy of `value` as plain data, where each part that throws when read is `unrenderable`.
const plain = (value: unknown, key: string, ancestors: ReadonlyArray<object>): unknown => {
  try {
    const own = typeof value === "object" && value !== null && "toJSON" in value && typeof value.toJSON === "function"
      ? (value.toJSON as (key: string) => unknown)(key)
      : value
    if (typeof own === "bigint") return own.toString()
    if (typeof own === "symbol" || typeof own === "function") return String(own)
    if (typeof own !== "object" || own === null) return own
    if (ancestors.includes(own)) return "[Circular]"
    if (Inspectable.isRedactable(own)) return plain(Inspectable.redact(own), key, ancestors)
    if (own instanceof Error) {
      return { name: attempt(() => String(own.name), unrenderable), message: attempt(() => own.message, unrenderable) }
    }
    const inner = [...ancestors, own]
    if (Array.isArray(own)) return own.map((item: unknown, i) => plain(item, String(i), inner))
    const out: Record<string, unknown> = {}
    for (const name of Object.keys(own)) {
      out[name] = attempt(() => plain((own as Record<string, unknown>)[name], name, inner), unrenderable)
    }
    return out
  } catch {
    return unrenderable
  }
}

// JSON text of a value; one whose parts throw when read is written with those parts as `unrenderable`, never throws.
const toJson = (value: unknown): string => {
  try {
    return JSON.stringify(value, jsonReplacer()) ?? attempt(() => String(value), unrenderable)
  } catch {
    return attempt(() => JSON.stringify(plain(value, "", []), jsonReplacer()), undefined) ??
      JSON.stringify(unrenderable)
  }
}

const renderValue = (value: unknown): string => {
  if (typeof value === "string") return value
  if (Redacted.isRedacted(value)) return "<redacted>"
  if (value instanceof Error) return attempt(() => `${value.name}: ${value.message}`, unrenderable)
  if (typeof value === "object" && value !== null) return toJson(value)
  return attempt(() => String(value), unrenderable)
}

const renderMessage = (message: unknown): string => Arr.ensure(message).map(renderValue).join(" ")

/**
 * The message, and the pretty-printed cause when there is one. A log of a cause alone (`Effect.logError(cause)`,
 * as `runMain` reports a failure) has its error's message (`fromError`); the cause is left out when the error's
 * stack is its message alone (an error meant for the reader, such as GlamLive's `StartupError`, whose message says
 * it all).
 */
const messageAndCause = (
  log: Logger.Logger.Options<unknown>
): { readonly message: string; readonly cause: string | undefined; readonly fromError: boolean } => {
  const text = renderMessage(log.message)
  if (Cause.isEmpty(log.cause)) return { message: text, cause: undefined, fromError: false }
  const pretty = attempt(() => Cause.pretty(log.cause, { renderErrorCause: true }), unrenderable)
  if (text !== "") return { message: text, cause: pretty, fromError: false }
  const error = attempt(() => Cause.squash(log.cause), undefined)
  if (!(error instanceof Error)) return { message: renderValue(error), cause: pretty, fromError: false }
  return {
    message: attempt(() => error.message, unrenderable),
    cause: attempt(() => error.stack === `${error.name}: ${error.message}` ? undefined : pretty, pretty),
    fromError: true
  }
}

// What would break a line or a terminal: the C0 controls (a CR or an LF from user input would start a forged record),
// DEL and the C1 controls (U+0085 ends a line for Unicode-aware readers, U+009B starts a terminal's control
// sequence), and the Unicode line and paragraph separators.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g
const LINE_BREAK = /\r\n|[\n\r\u0085\u2028\u2029]/
const ESCAPES: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" }

const escapeControl = (char: string): string =>
  ESCAPES[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`

/** `text` on one line: every control character written as an escape (`\n`, `\r`, `\t`, `\u001b`). */
const oneLine = (text: string): string => text.replace(CONTROL, escapeControl)

/** A cause's lines below its record, each indented so that none reads as a record of its own. */
const indented = (text: string): string => text.split(LINE_BREAK).map((line) => `  ${oneLine(line)}`).join("\n")

// JSON.stringify escapes the C0 controls; these it writes as they are, and a Unicode-aware reader would break a line
// at U+0085, U+2028 or U+2029. In JSON text they can only be inside a string, where an escape means the same.
const JSON_UNESCAPED = /[\u007f-\u009f\u2028\u2029]/g

const pad = (n: number): string => n.toString().padStart(2, "0")

// Python's `datetime.fromtimestamp(created).strftime("%Y-%m-%d %H:%M:%S")`: local time, second precision.
const consoleTimestamp = (date: Date): string =>
  `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
  `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`

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
 * Renders one JSON line with the seed's fields: `timestamp`, `service`, `level`, `message`, `environment`, then
 * `request_id`, `correlation_id`, `causation_id`, `trace_id`, `span_id` when known, the log annotations as top-level keys, and
 * `exception` (the pretty-printed cause) when the log carries one. A log of a cause alone has its error's message.
 * Every line break is escaped, U+0085, U+2028 and U+2029 included, which `JSON.stringify` writes as they are.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatJson = (
  options: Pick<Options, "service" | "environment">,
  log: Logger.Logger.Options<unknown>
): string => {
  const ids = readIds(log.context)
  const { cause, message } = messageAndCause(log)
  const record: Record<string, unknown> = {
    timestamp: log.date.toISOString(),
    service: options.service,
    level: levelName(log.logLevel),
    message,
    environment: options.environment
  }
  if (Option.isSome(ids.requestId)) record.request_id = ids.requestId.value
  if (Option.isSome(ids.correlationId)) record.correlation_id = ids.correlationId.value
  if (Option.isSome(ids.causationId)) record.causation_id = ids.causationId.value
  if (Option.isSome(ids.span)) {
    record.trace_id = ids.span.value.traceId
    record.span_id = ids.span.value.spanId
  }
  for (const [key, value] of log.annotations) {
    if (!reserved.has(key)) record[key] = value
  }
  if (cause !== undefined) record.exception = cause
  return toJson(record).replace(JSON_UNESCAPED, escapeControl)
}

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
export const formatConsole = (options: Pick<Options, "service">, log: Logger.Logger.Options<unknown>): string => {
  const ids = readIds(log.context)
  const parts: Array<string> = []
  if (Option.isSome(ids.requestId)) parts.push(`request_id=${ids.requestId.value}`)
  if (Option.isSome(ids.correlationId)) parts.push(`correlation_id=${ids.correlationId.value}`)
  if (Option.isSome(ids.causationId)) parts.push(`causation_id=${ids.causationId.value}`)
  for (const [key, value] of log.annotations) {
    if (!reserved.has(key)) parts.push(`${key}=${renderValue(value)}`)
  }
  let line = `${consoleTimestamp(log.date)} - ${options.service} - ${levelName(log.logLevel)}`
  if (parts.length > 0) line += ` - [${parts.join(" ")}]`
  const { cause, fromError, message } = messageAndCause(log)
  // An error's own message (a startup error listing every problem) keeps its lines, indented below the record as
  // the cause is; the record itself is one line.
  const [first = "", ...rest] = fromError ? message.split(LINE_BREAK) : [message]
  const below = [...rest.map((l) => `  ${oneLine(l)}`), ...(cause === undefined ? [] : [indented(cause)])]
  const record = oneLine(`${line} - ${first}`)
  return below.length === 0 ? record : `${record}\n${below.join("\n")}`
}

/**
 * A logger writing the seed's console or JSON lines to a sink.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Logger.Logger<unknown, void> => {
  const sink = options.sink ?? stdoutSink
  const render = options.format === "json" ? formatJson : formatConsole
  return Logger.make((log) => {
    // Whatever is logged, and whatever the sink does, a log never fails the fiber that writes it.
    let line: string
    try {
      line = render(options, log)
    } catch {
      line = render(options, { ...log, message: unrenderable, annotations: HashMap.empty(), cause: Cause.empty })
    }
    attempt(() => sink(line, log.logLevel), undefined)
  })
}

/**
 * Replaces Effect's default logger with {@link make}'s and sets the minimum level (default `INFO`).
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
export const layer = (options: Options & { readonly level?: LogLevel.LogLevel | undefined }): Layer.Layer<never> =>
  Layer.merge(
    Logger.replace(Logger.defaultLogger, make(options)),
    Logger.minimumLogLevel(options.level ?? LogLevel.Info)
  )
