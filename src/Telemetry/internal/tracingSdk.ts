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
  type SpanProcessor,
  TraceIdRatioBasedSampler
} from "@opentelemetry/sdk-trace-base"
import type * as Duration from "effect/Duration"
import type * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { redactUrlCredentials, redactValueIn } from "../../Config/internal/names.js"
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

const otlpExporter = (exporter: Extract<Exporter, { readonly _tag: "Otlp" }>): OTLPTraceExporter => {
  // An endpoint built in code may still carry a userinfo: the exporter is given it as the header Node would send.
  const { endpoint, headers } = otlp.moveUserinfo(exporter.endpoint, exporter.headers) ?? exporter
  try {
    return new OTLPTraceExporter({
      url: endpoint,
      headers: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, Redacted.value(value)]))
    })
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
