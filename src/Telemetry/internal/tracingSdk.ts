/**
 * The OpenTelemetry tracing SDK behind `Tracing`: the span processors of an exporter and the tracer provider. Loaded
 * by `Tracing` only when spans go somewhere, so that a service without an exporter never loads the SDK.
 *
 * @internal
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import type * as Resource from "@effect/opentelemetry/Resource"
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
import type * as Duration from "effect/Duration"
import type * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { redactUrlCredentials, redactValueIn } from "../../Config/internal/names.js"
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

/** @internal */
export const makeSpanProcessors = (exporter: Exporter): Array<SpanProcessor> => {
  switch (exporter._tag) {
    case "None":
      return []
    case "Console":
      return [new SimpleSpanProcessor(new ConsoleSpanExporter())]
    case "Otlp":
      return [new BatchSpanProcessor(otlpExporter(exporter))]
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

/** The exporter with the errors of its failed exports given by {@link scrubbedError}. */
class ScrubbingExporter implements SpanExporter {
  constructor(
    private readonly exporter: SpanExporter,
    private readonly endpoint: string,
    private readonly credentials: ReadonlyArray<string>
  ) {}
  export(...[spans, resultCallback]: Parameters<SpanExporter["export"]>): void {
    this.exporter.export(spans, (result) =>
      resultCallback(
        result.error === undefined
          ? result
          : { code: result.code, error: scrubbedError(result.error, this.endpoint, this.credentials) }
      ))
  }
  shutdown(): Promise<void> {
    return this.exporter.shutdown()
  }
  forceFlush(): Promise<void> {
    return this.exporter.forceFlush?.() ?? Promise.resolve()
  }
}

const otlpExporter = (exporter: Extract<Exporter, { readonly _tag: "Otlp" }>): SpanExporter => {
  // An endpoint built in code may still carry a userinfo: the exporter is given it as the header Node would send.
  const { endpoint, headers } = otlp.moveUserinfo(exporter.endpoint, exporter.headers) ?? exporter
  const sent = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, Redacted.value(value)]))
  try {
    return new ScrubbingExporter(
      new OTLPTraceExporter({ url: endpoint, headers: sent }),
      endpoint,
      exportCredentials(endpoint, sent)
    )
  } catch (error) {
    // The exporter's errors quote the URL whole (`Could not parse user-provided export URL: '...'`): thrown again
    // with the endpoint's userinfo and query values hidden (and any other URL's credentials), without the original
    // as its cause.
    const message = error instanceof Error ? error.message : String(error)
    throw new Error(redactUrlCredentials(redactValueIn(message, exporter.endpoint, "all")))
  }
}

/** @internal */
export const layer = (options: {
  readonly resource: NodeSdk.Configuration["resource"]
  readonly exporter: Exporter
  readonly samplingRatio: number | undefined
  readonly spanProcessors: ReadonlyArray<SpanProcessor>
  readonly shutdownTimeout: Duration.DurationInput | undefined
}): Layer.Layer<Resource.Resource> =>
  NodeSdk.layer(() => ({
    resource: options.resource,
    spanProcessor: [...makeSpanProcessors(options.exporter), ...options.spanProcessors],
    tracerConfig: {
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.samplingRatio ?? 1) })
    },
    shutdownTimeout: options.shutdownTimeout
  }))
