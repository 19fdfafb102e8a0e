/**
 * The resource attributes a deployment sets (`OTEL_RESOURCE_ATTRIBUTES`: a CI's repository URL with its access token,
 * a key named as a credential, a value quoting a configured secret) travel with every exported span and in the
 * `target_info` of `/metrics`: each credential is hidden there, the other attributes kept.
 */
import { describe, expect, it } from "@effect/vitest"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import * as PrometheusExposition from "../src/Telemetry/PrometheusExposition.js"
import * as Telemetry from "../src/Telemetry/Telemetry.js"
import { httpServer } from "./support/httpServer.js"

// InMemorySpanExporter forgets its spans on shutdown, which is when the telemetry layer's scope closes: keep them.
class KeepingExporter extends InMemorySpanExporter {
  override shutdown(): Promise<void> {
    return Promise.resolve()
  }
}

const secret = (label: string) => `${label}-${randomBytes(12).toString("hex")}`

/** The resource attributes of a deployment, and the credentials they quote. */
const deployment = () => {
  const ciToken = secret("glcbt")
  const apiKey = secret("api-key")
  const otlpKey = secret("otlp-key")
  const attributes = [
    `vcs.repository.url.full=https://gitlab-ci-token:${ciToken}@git.example/glam/catalog.git`,
    `deployment.api_key=${apiKey}`,
    `deployment.note=collector key ${otlpKey}`,
    "k8s.namespace.name=shop"
  ].join(",")
  return {
    credentials: [ciToken, apiKey, otlpKey],
    otlpKey,
    environment: Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["OTEL_RESOURCE_ATTRIBUTES", attributes]])))
  }
}

/** A span exported through `layer`, and the `/metrics` text with its resource. */
const exported = <E>(layer: Layer.Layer<never, E>, exporter: KeepingExporter | undefined) =>
  Effect.gen(function*() {
    const text = yield* Effect.zipRight(
      Effect.void.pipe(Effect.withSpan("resource-C.work")),
      PrometheusExposition.metricsText
    ).pipe(Effect.provide(layer))
    const span: ReadableSpan | undefined = exporter?.getFinishedSpans().find((span) => span.name === "resource-C.work")
    const targetInfo = text.split("\n").find((line) => line.startsWith("target_info{")) ?? ""
    return { targetInfo, resource: span === undefined ? undefined : JSON.stringify(span.resource.attributes) }
  })

const expectHidden = (text: string, credentials: ReadonlyArray<string>) => {
  for (const credential of credentials) expect(text).not.toContain(credential)
  expect(text).toContain("https://***@git.example/glam/catalog.git")
  expect(text).toContain("shop")
}

describe("credentials in the resource's attributes", () => {
  it.scopedLive("are hidden in exported spans and target_info, a configured secret among them", () =>
    Effect.gen(function*() {
      const collector = yield* httpServer(() => ({ status: 200, body: "{}" }))
      const { credentials, environment, otlpKey } = deployment()
      const exporter = new KeepingExporter()
      const telemetry = Telemetry.layer({
        serviceName: "resource-C",
        logSink: () => undefined,
        exporter: {
          _tag: "Otlp",
          endpoint: `${collector.url}/v1/traces`,
          headers: { "x-api-key": Redacted.make(otlpKey) }
        },
        spanProcessors: [new SimpleSpanProcessor(exporter)]
      })
      const { resource, targetInfo } = yield* exported(Layer.provide(telemetry, environment), exporter)
      expect(resource).toBeDefined()
      expectHidden(resource!, credentials)
      expect(resource).toContain(`"deployment.api_key":"<redacted>"`)
      expect(resource).toContain(`"deployment.note":"collector key <redacted>"`)
      expectHidden(targetInfo, credentials)
    }))

  it.live("are hidden in target_info when no span is exported", () =>
    Effect.gen(function*() {
      const { credentials, environment } = deployment()
      const telemetry = Telemetry.layer({ serviceName: "resource-C", logSink: () => undefined })
      const { targetInfo } = yield* exported(Layer.provide(telemetry, environment), undefined)
      // Without an OTLP exporter nothing registers the collector's key: the URL's token and the api_key only.
      expectHidden(targetInfo, credentials.slice(0, 2))
    }))
})
