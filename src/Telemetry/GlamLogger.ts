/**
 * The logger of GLAM services, replacing Effect's default: the Python services' console format in development
 * and their JSON lines in production, each line carrying the request id, correlation id and current span read
 * from the fiber (nobody passes them).
 *
 * Lines go to a {@link Sink}, standard output unless told otherwise. There is no file output and no rotation:
 * in containers stdout is the contract and the platform collects it.
 *
 * @since 0.1.0
 */
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
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

const jsonReplacer = () => {
  const seen = new WeakSet<object>()
  return function(this: unknown, _key: string, value: unknown): unknown {
    if (typeof value === "bigint") return value.toString()
    if (typeof value === "symbol" || typeof value === "function") return String(value)
    if (typeof value === "object" && value !== null) {
      if (seen.has(value)) return "[Circular]"
      seen.add(value)
      if (Inspectable.isRedactable(value)) return Inspectable.redact(value)
      if (value instanceof Error) return { name: value.name, message: value.message }
    }
    return value
  }
}

const toJson = (value: unknown): string => {
  try {
    return JSON.stringify(value, jsonReplacer()) ?? String(value)
  } catch {
    return String(value)
  }
}

const renderValue = (value: unknown): string => {
  if (typeof value === "string") return value
  if (Redacted.isRedacted(value)) return "<redacted>"
  if (value instanceof Error) return `${value.name}: ${value.message}`
  if (typeof value === "object" && value !== null) return toJson(value)
  return String(value)
}

const renderMessage = (message: unknown): string => Arr.ensure(message).map(renderValue).join(" ")

/**
 * The message, and the pretty-printed cause when there is one. A log of a cause alone (`Effect.logError(cause)`,
 * as `runMain` reports a failure) has its error's message; the cause is left out when the error's stack is its
 * message alone (an error meant for the reader, such as GlamLive's `StartupError`, whose message says it all).
 */
const messageAndCause = (log: Logger.Logger.Options<unknown>): readonly [string, string | undefined] => {
  const text = renderMessage(log.message)
  if (Cause.isEmpty(log.cause)) return [text, undefined]
  const pretty = Cause.pretty(log.cause, { renderErrorCause: true })
  if (text !== "") return [text, pretty]
  const error = Cause.squash(log.cause)
  if (!(error instanceof Error)) return [renderValue(error), pretty]
  return [error.message, error.stack === `${error.name}: ${error.message}` ? undefined : pretty]
}

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
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatJson = (
  options: Pick<Options, "service" | "environment">,
  log: Logger.Logger.Options<unknown>
): string => {
  const ids = readIds(log.context)
  const [message, cause] = messageAndCause(log)
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
  return toJson(record)
}

/**
 * Renders one console line in the seed's format:
 * `2024-01-15 10:30:45 - catalog-service - INFO - [request_id=... correlation_id=... key=value] - message`,
 * the bracket omitted when there is no context, the pretty-printed cause on the following lines.
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
  const [message, cause] = messageAndCause(log)
  line += ` - ${message}`
  if (cause !== undefined) line += "\n" + cause
  return line
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
  return Logger.make((log) => sink(render(options, log), log.logLevel))
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
