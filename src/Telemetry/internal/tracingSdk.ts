/**
 * The OpenTelemetry tracing SDK behind `Tracing`: the span processors of an exporter and the tracer provider. Loaded
 * by `Tracing` only when spans go somewhere, so that a service without an exporter never loads the SDK.
 *
 * @internal
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import type * as Resource from "@effect/opentelemetry/Resource"
import * as Tracer from "@effect/opentelemetry/Tracer"
import { TraceFlags } from "@opentelemetry/api"
import type { Context } from "@opentelemetry/api"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
  TraceIdRatioBasedSampler
} from "@opentelemetry/sdk-trace-base"
import type { ReadableSpan, Span } from "@opentelemetry/sdk-trace-base"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Redacted from "effect/Redacted"
import { redactUrlCredentials, redactValueIn } from "../../Config/internal/names.js"
import { configuredSecrets } from "../../internal/configuredSecrets.js"
import {
  decodeOrKeep,
  headerValueCredentials,
  longestFirst,
  minCredentialLength,
  scrubText
} from "../../internal/credentials.js"
import { cutText } from "../../internal/text.js"
import type { Exporter } from "../TelemetryConfig.js"
import * as otlp from "./otlp.js"
import * as ResourceLayer from "./resource.js"

/**
 * Where the OTLP exporter reports failed exports: a warning when exports start failing, an info line when one
 * succeeds again.
 *
 * @internal
 */
export interface ExportReport {
  readonly warning: (message: string) => void
  readonly info: (message: string) => void
}

/**
 * The spans the toolkit's span processors dropped, by `reason`: `queue_full` (the OTLP batch queue was full) or
 * `export_failed` (the collector refused or did not answer).
 *
 * @internal
 */
export const spansDropped: Metric.Metric.Counter<number> = Metric.counter("telemetry_spans_dropped_total", {
  description:
    "Spans dropped before export: the OTLP span queue full (queue_full) or the export failed (export_failed)",
  incremental: true
})

const queueFull = [MetricLabel.make("reason", "queue_full")]
const exportFailed = [MetricLabel.make("reason", "export_failed")]

/** The spans of one export at most (OpenTelemetry's default), never more than the queue holds. */
const maxExportBatchSize = 512

/** @internal */
export const makeSpanProcessors = (exporter: Exporter, report?: ExportReport): Array<SpanProcessor> => {
  switch (exporter._tag) {
    case "None":
      return []
    case "Console":
      return [new SimpleSpanProcessor(new ConsoleSpanExporter())]
    case "Otlp":
      return [queueBoundProcessor(exporter, report)]
  }
}

const queueBoundProcessor = (
  exporter: Extract<Exporter, { readonly _tag: "Otlp" }>,
  report: ExportReport | undefined
): SpanProcessor => {
  // Within its bounds: `Tracing.layer` refuses another.
  const maxQueueSize = exporter.maxQueueSize ?? otlp.defaultMaxQueueSize
  const queue = { queued: 0 }
  const inner = new BatchSpanProcessor(new DequeuingExporter(otlpExporter(exporter, report), queue), {
    maxQueueSize,
    maxExportBatchSize: Math.min(maxExportBatchSize, maxQueueSize)
  })
  return new QueueBoundProcessor(inner, queue, maxQueueSize, report)
}

/** Takes the spans handed to an export off the count of spans queued. */
class DequeuingExporter implements SpanExporter {
  constructor(private readonly exporter: SpanExporter, private readonly queue: { queued: number }) {}
  export(...[spans, resultCallback]: Parameters<SpanExporter["export"]>): void {
    this.queue.queued = Math.max(0, this.queue.queued - spans.length)
    this.exporter.export(spans, resultCallback)
  }
  shutdown(): Promise<void> {
    return this.exporter.shutdown()
  }
  forceFlush(): Promise<void> {
    return this.exporter.forceFlush?.() ?? Promise.resolve()
  }
}

/**
 * The batch span processor with its queue's bound kept here, where a drop is seen: a sampled span that finds
 * `maxQueueSize` spans waiting for export is dropped and counted
 * (`telemetry_spans_dropped_total{reason="queue_full"}`), with one warning when drops start and one line with their
 * count when a span is queued again or at shutdown. The count of spans waiting is at least the batch processor's
 * own (a span leaves it when its export starts), so that the batch processor never drops a span unseen. O(1) per
 * span.
 */
class QueueBoundProcessor implements SpanProcessor {
  // Spans dropped since the queue was last found full; 0 while spans are queued.
  private dropped = 0
  private shutDown = false
  constructor(
    private readonly inner: SpanProcessor,
    private readonly queue: { queued: number },
    private readonly maxQueueSize: number,
    private readonly report: ExportReport | undefined
  ) {}
  onStart(span: Span, parentContext: Context): void {
    this.inner.onStart(span, parentContext)
  }
  onEnd(span: ReadableSpan): void {
    if (this.shutDown || (span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return this.inner.onEnd(span)
    if (this.queue.queued >= this.maxQueueSize) {
      if (this.dropped === 0) {
        attempt(() =>
          this.report?.warning(
            `Span queue full (${spanCount(this.maxQueueSize)} waiting for export, telemetry.max_queue_size): ` +
              "spans are dropped and counted until one is queued again"
          )
        )
      }
      this.dropped++
      attempt(() => spansDropped.unsafeUpdate(1, queueFull))
      return
    }
    if (this.dropped > 0) this.reportDropped("queued again")
    this.queue.queued++
    this.inner.onEnd(span)
  }
  shutdown(): Promise<void> {
    this.shutDown = true
    if (this.dropped > 0) this.reportDropped("at shutdown")
    return this.inner.shutdown()
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush()
  }
  private reportDropped(when: string): void {
    const dropped = this.dropped
    this.dropped = 0
    attempt(() => this.report?.warning(`Span queue: ${spanCount(dropped)} dropped while it was full (${when})`))
  }
}

/**
 * The credentials an export carries, as a collector could quote them in its answer: each header's value, its token
 * after the scheme, and for Basic the decoded `user:password` and password; the endpoint's query values. Longest
 * first, so that a whole value is hidden before a part of it.
 */
const exportCredentials = (endpoint: string, headers: Readonly<Record<string, string>>): ReadonlyArray<string> => {
  const out = Object.values(headers).flatMap(headerValueCredentials)
  const question = endpoint.indexOf("?")
  // An endpoint's query values are hidden in the endpoint itself; in free text only from minCredentialLength up.
  for (const part of question === -1 ? [] : endpoint.slice(question + 1).split("&")) {
    const value = part.slice(part.indexOf("=") + 1)
    for (const form of [value, decodeOrKeep(value)]) if (form.length >= minCredentialLength) out.push(form)
  }
  return longestFirst(out)
}

/** The longest part of a collector's answer kept in an export's error. */
const maxAnswerLength = 1024

/**
 * A failed export, its fields enumerable as the exporter's own error's are: the span processor may reject with a list
 * of them, which `@effect/opentelemetry` logs as JSON.
 */
class OtlpExportError extends Error {
  override readonly name = "OtlpExportError"
  constructor(override readonly message: string, readonly code: number | undefined) {
    super(message)
  }
}

/**
 * A failed export's error as the exporter reports it (`OTLPExporterError`: the status text, the code, and the
 * collector's answer as `data`), rebuilt with the credentials hidden: the span processor hands it to OpenTelemetry's
 * error handler, and a flush at shutdown to `@effect/opentelemetry`, which logs it at DEBUG.
 */
const scrubbedError = (error: Error, endpoint: string, credentials: ReadonlyArray<string>): Error => {
  const { code, data } = error as { readonly code?: unknown; readonly data?: unknown }
  const answer = typeof data === "string" && data !== "" ? `${error.message}: ${data}` : error.message
  const text = redactUrlCredentials(redactValueIn(scrubText(answer, credentials), endpoint, "all"))
  const status = typeof code === "number" ? ` (HTTP ${code})` : ""
  return new OtlpExportError(
    `OTLP export failed${status}: ${cutText(text, maxAnswerLength)}`,
    typeof code === "number" ? code : undefined
  )
}

const spanCount = (n: number): string => `${n} span${n === 1 ? "" : "s"}`

/**
 * The exporter with the errors of its failed exports given by {@link scrubbedError}, and reported: one warning when
 * exports start failing (the error, the spans dropped), the spans of the failures that follow counted, and one line
 * when an export succeeds again or at shutdown with the spans dropped in all.
 */
class ScrubbingExporter implements SpanExporter {
  // Spans dropped since exports started failing; undefined while they succeed.
  private dropped: number | undefined = undefined
  private warnedAt = 0
  constructor(
    private readonly exporter: SpanExporter,
    private readonly endpoint: string,
    private readonly credentials: ReadonlyArray<string>,
    private readonly report: ExportReport | undefined
  ) {}
  export(...[spans, resultCallback]: Parameters<SpanExporter["export"]>): void {
    this.exporter.export(spans, (result) => {
      if (result.error === undefined) {
        if (this.dropped !== undefined) {
          attempt(() => this.report?.info(`OTLP export succeeded again after ${spanCount(this.dropped!)} dropped`))
          this.dropped = undefined
        }
        return resultCallback(result)
      }
      const error = scrubbedError(result.error, this.endpoint, this.credentials)
      attempt(() => spansDropped.unsafeUpdate(spans.length, exportFailed))
      if (this.dropped === undefined) {
        this.dropped = spans.length
        this.warnedAt = spans.length
        attempt(() =>
          this.report?.warning(
            `${error.message} (${spanCount(spans.length)} dropped; the spans of further failures are counted until ` +
              "an export succeeds)"
          )
        )
      } else {
        this.dropped += spans.length
      }
      resultCallback({ code: result.code, error })
    })
  }
  shutdown(): Promise<void> {
    if (this.dropped !== undefined && this.dropped > this.warnedAt) {
      const dropped = this.dropped
      attempt(() =>
        this.report?.warning(`OTLP export: ${spanCount(dropped)} dropped in all since exports started failing`)
      )
    }
    return this.exporter.shutdown()
  }
  forceFlush(): Promise<void> {
    return this.exporter.forceFlush?.() ?? Promise.resolve()
  }
}

const attempt = (f: () => void): void => {
  try {
    f()
  } catch {
    // A report that throws loses its line, never the export's result.
  }
}

const otlpExporter = (
  exporter: Extract<Exporter, { readonly _tag: "Otlp" }>,
  report: ExportReport | undefined
): SpanExporter => {
  // An endpoint built in code may still carry a userinfo: the exporter is given it as the header Node would send.
  const { endpoint, headers } = otlp.moveUserinfo(exporter.endpoint, exporter.headers) ?? exporter
  const sent = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, Redacted.value(value)]))
  try {
    return new ScrubbingExporter(
      new OTLPTraceExporter({ url: endpoint, headers: sent }),
      endpoint,
      exportCredentials(endpoint, sent),
      report
    )
  } catch (error) {
    // The exporter's errors quote the URL whole (`Could not parse user-provided export URL: '...'`): thrown again
    // with the endpoint's userinfo and query values hidden (and any other URL's credentials), without the original
    // as its cause.
    const message = error instanceof Error ? error.message : String(error)
    throw new Error(redactUrlCredentials(redactValueIn(message, exporter.endpoint, "all")))
  }
}

/**
 * The longest span attribute value, status message or event attribute value by default, in UTF-16 code units.
 *
 * @internal
 */
export const defaultMaxAttributeLength = 4096

type Attributes = Record<string, unknown>

// A text with the configured secrets hidden (none registered: the text itself), then cut to `max`.
const clean = (text: string, max: number, secrets: ReadonlyArray<string>): string => {
  const hiddenText = secrets.length === 0 ? text : scrubText(text, secrets)
  return hiddenText.length > max ? cutText(hiddenText, max) : hiddenText
}

const cleanAttributes = (attributes: Attributes | undefined, max: number, secrets: ReadonlyArray<string>): void => {
  if (attributes === undefined) return
  for (const key in attributes) {
    const value = attributes[key]
    if (typeof value === "string") {
      const cleaned = clean(value, max, secrets)
      if (cleaned !== value) attributes[key] = cleaned
    } else if (Array.isArray(value)) {
      const changes = (item: unknown) => typeof item === "string" && clean(item, max, secrets) !== item
      if (value.some(changes)) {
        attributes[key] = value.map((item: unknown) => typeof item === "string" ? clean(item, max, secrets) : item)
      }
    }
  }
}

/**
 * Cleans a span when it ends, before the processors after it see it: every string attribute value (an array's
 * strings each), event name and event attribute value (an exception's message and stack, a log line), link attribute
 * value, the status message and the name
 * - with every occurrence of a configured secret (see `configuredSecrets`: the database password, a token...)
 *   replaced by `<redacted>`, so that a span attribute a service sets with one is exported without it;
 * - cut, when longer than `max`, to `max` code units followed by `... (N more characters)`, never between the halves
 *   of a surrogate pair: a 10 MB header value or error message does not travel whole in every span.
 *
 * The cost is a pass over the span's strings, which a processor's export makes anyway, and a search of each for the
 * few configured secrets.
 *
 * @internal
 */
export class AttributeCapProcessor implements SpanProcessor {
  constructor(private readonly max: number) {}
  onStart(): void {}
  onEnd(span: ReadableSpan): void {
    try {
      const secrets = configuredSecrets()
      cleanAttributes(span.attributes as Attributes, this.max, secrets)
      for (const event of span.events) {
        cleanAttributes(event.attributes as Attributes | undefined, this.max, secrets)
        if (secrets.length > 0) (event as { name: string }).name = scrubText(event.name, secrets)
      }
      for (const link of span.links) cleanAttributes(link.attributes as Attributes | undefined, this.max, secrets)
      const status = span.status as { message?: string }
      if (typeof status.message === "string") {
        const message = clean(status.message, this.max, secrets)
        if (message !== status.message) status.message = message
      }
      const name = clean(span.name, this.max, secrets)
      if (name !== span.name) (span as { name: string }).name = name
    } catch {
      // A span whose attributes cannot be changed goes on as it is.
    }
  }
  shutdown(): Promise<void> {
    return Promise.resolve()
  }
  forceFlush(): Promise<void> {
    return Promise.resolve()
  }
}

/** @internal */
export const layer = (options: {
  readonly resource: ResourceLayer.Config
  readonly exporter: Exporter
  readonly samplingRatio: number | undefined
  readonly spanProcessors: ReadonlyArray<SpanProcessor>
  readonly shutdownTimeout: Duration.DurationInput | undefined
  readonly report: ExportReport
  readonly maxAttributeLength: number
}): Layer.Layer<Resource.Resource> =>
  // `NodeSdk.layer`'s tracer, on the resource with the credentials of its attributes hidden.
  Layer.unwrapEffect(Effect.sync(() =>
    Layer.provide(
      Tracer.layer,
      NodeSdk.layerTracerProvider([
        // First: the processors after it see the values cut.
        new AttributeCapProcessor(options.maxAttributeLength),
        ...makeSpanProcessors(options.exporter, options.report),
        ...options.spanProcessors
      ], {
        sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.samplingRatio ?? 1) }),
        shutdownTimeout: options.shutdownTimeout
      })
    )
  )).pipe(Layer.provideMerge(ResourceLayer.layer(options.resource)))
