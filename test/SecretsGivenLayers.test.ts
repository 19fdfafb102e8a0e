/**
 * The secrets a service hands to a layer it builds by hand (the Sql layer's url and password, a NATS connection's
 * token or password, the Redis URL of the Cache, the MQTT client's URL and password), hidden in what its own code
 * writes while the layer is in use: a GlamLogger line and an exported span quoting one show `<redacted>`. Each layer
 * connects to the machine's server, whose trusting access ignores the secret it is given.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { ConfigProvider, Effect, Exit, Layer, Option, Redacted, Scope } from "effect"
import { generateKeyPairSync, randomBytes } from "node:crypto"
import { Bus, Cache, Devices, Http, Sql, Telemetry } from "../src/index.js"
import { httpServer } from "./support/httpServer.js"
import { serviceAvailable, services } from "./support/services.js"

const [pgUp, natsUp, redisUp, mqttUp] = await Promise.all(
  (["postgres", "nats", "redis", "mosquitto"] as const).map(serviceAvailable)
)

// InMemorySpanExporter forgets its spans on shutdown, which is when the telemetry layer's scope closes: keep them.
class KeepingExporter extends InMemorySpanExporter {
  override shutdown(): Promise<void> {
    return Promise.resolve()
  }
}

/** A secret with characters a URL percent-encodes, so that its encoded form differs from it. */
const secret = (label: string, bytes = 10) => `${label}/${randomBytes(bytes).toString("hex")}+@`

/** What the service's own code writes, in a span: a log line and a span attribute quoting the texts. */
const written = (texts: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const exporter = new KeepingExporter()
    const lines: Array<string> = []
    const telemetry = Telemetry.layer({
      serviceName: "secrets-D",
      logSink: (line) => void lines.push(line),
      spanProcessors: [new SimpleSpanProcessor(exporter)]
    })
    const quoted = texts.join(" ")
    yield* Effect.logInfo(`quoting ${quoted}`).pipe(
      Effect.zipRight(Effect.annotateCurrentSpan("quoted", quoted)),
      Effect.withSpan("secrets-D.work"),
      Effect.provide(telemetry)
    )
    const span: ReadableSpan | undefined = exporter.getFinishedSpans().find((span) => span.name === "secrets-D.work")
    return {
      line: lines.find((line) => line.includes("quoting")) ?? "",
      attribute: String(span?.attributes["quoted"]),
      event: span?.events.map((event) => `${event.name} ${JSON.stringify(event.attributes)}`).join("\n") ?? ""
    }
  })

/**
 * Builds the layer, checks that each secret (in each of its forms) is hidden in a log line and an exported span
 * while it is in use, then closes it and checks that the secrets are no longer searched for.
 */
const hiddenWhileInUse = <ROut, E>(layer: Layer.Layer<ROut, E>, forms: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    yield* Layer.buildWithScope(layer, scope)
    const inUse = yield* written(forms)
    const hidden = forms.map(() => "<redacted>").join(" ")
    expect(inUse.line).toContain(`quoting ${hidden}`)
    expect(inUse.attribute).toBe(hidden)
    expect(inUse.event).toContain(`quoting ${hidden}`)
    for (const form of forms) {
      expect(inUse.line).not.toContain(form)
      expect(inUse.attribute).not.toContain(form)
      expect(inUse.event).not.toContain(form)
    }
    yield* Scope.close(scope, Exit.void)
    // Released with the layer: the same texts are written as they are.
    const after = yield* written(forms)
    expect(after.attribute).toBe(forms.join(" "))
  })

describe("secrets given to hand-built layers, hidden while the layer is in use", () => {
  it.live.skipIf(!pgUp)("Sql.layer: the password of its url (as written and decoded) and its password option", () => {
    const inUrl = secret("pg-url")
    const option = secret("pg-option")
    const { database, host, port, user } = services.postgres
    const url = `postgres://${user}:${encodeURIComponent(inUrl)}@${host}:${port}/${database}`
    return hiddenWhileInUse(
      Sql.layer({ url: Redacted.make(url), password: Redacted.make(option), poolSize: 1 }),
      [inUrl, encodeURIComponent(inUrl), option, encodeURIComponent(option)]
    )
  }, 60_000)

  it.live.skipIf(!natsUp)("a NATS connection: the token of its server URL, and a password given apart", () => {
    const token = secret("nats-token")
    const bare = secret("nats-bare")
    const password = secret("nats-password")
    const { host, port } = services.nats
    const byUrl = Layer.scopedDiscard(Bus.JetStream.connection({
      servers: [`nats://${encodeURIComponent(token)}@${host}:${port}`],
      user: Option.none(),
      password: Option.none(),
      token: Option.none(),
      serviceName: "secrets-D"
    }))
    const byOptions = Layer.scopedDiscard(Bus.JetStream.connection({
      servers: [`nats://${host}:${port}`],
      user: Option.some("secrets-D"),
      password: Option.some(Redacted.make(password)),
      token: Option.none(),
      serviceName: "secrets-D"
    }))
    // A server without a scheme, as the NATS client takes it too.
    const bareServer = Layer.scopedDiscard(Bus.JetStream.connection({
      servers: [`${encodeURIComponent(bare)}@${host}:${port}`],
      user: Option.none(),
      password: Option.none(),
      token: Option.none(),
      serviceName: "secrets-D"
    }))
    return hiddenWhileInUse(
      Layer.mergeAll(byUrl, byOptions, bareServer),
      [token, encodeURIComponent(token), password, encodeURIComponent(password), bare, encodeURIComponent(bare)]
    )
  }, 60_000)

  it.live.skipIf(!redisUp)("Cache.layer and RateLimit.layerRedis: the password of the Redis URL", () => {
    const cache = secret("redis-cache")
    const limiter = secret("redis-limiter")
    const { host, port } = services.redis
    // The machine's Redis lets its default user in with every password.
    const url = (password: string) => `redis://default:${encodeURIComponent(password)}@${host}:${port}`
    const prefix = `secrets-D-${randomBytes(4).toString("hex")}:`
    return hiddenWhileInUse(
      Layer.merge(
        Cache.layer({ url: url(cache), prefix, strict: true }),
        Http.RateLimit.layerRedis(url(limiter), prefix)
      ),
      [cache, encodeURIComponent(cache), limiter, encodeURIComponent(limiter)]
    )
  }, 60_000)

  it.live.skipIf(!mqttUp)("MqttClient.layer: the password of its URL, and a password given apart", () => {
    const inUrl = secret("mqtt-url")
    const option = secret("mqtt-option")
    const { host, port } = services.mosquitto
    const id = randomBytes(4).toString("hex")
    const byUrl = Devices.MqttClient.layer({
      url: `mqtt://secrets-D:${encodeURIComponent(inUrl)}@${host}:${port}`,
      clientId: `secrets-D-url-${id}`,
      cleanSession: true
    })
    const byOptions = Devices.MqttClient.layer({
      url: Redacted.make(`mqtt://${host}:${port}`),
      clientId: `secrets-D-option-${id}`,
      username: "secrets-D",
      password: Redacted.make(option),
      cleanSession: true
    })
    return hiddenWhileInUse(
      Layer.merge(byUrl, byOptions),
      [inUrl, encodeURIComponent(inUrl), option, encodeURIComponent(option)]
    )
  }, 60_000)
})

describe("secrets of the layers that connect nowhere at startup, hidden while the layer is in use", () => {
  // A configuration of the service's own, not loaded through GlamConfig.
  const configured = (tree: object) => Layer.setConfigProvider(ConfigProvider.fromJson(tree))

  it.live("JwtAuth.layerConfig and JwtIssuer.layerConfig: the secret and the private key", () => {
    const hmac = secret("jwt-secret", 24)
    const pem = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString()
    return hiddenWhileInUse(
      Layer.merge(
        Http.JwtAuth.layerConfig.pipe(Layer.provide(configured({ auth: { secret: hmac } }))),
        Http.JwtIssuer.layerConfig.pipe(
          Layer.provide(configured({ auth: { algorithms: ["EdDSA"], private_key: pem } }))
        )
      ),
      [hmac, encodeURIComponent(hmac), pem]
    )
  }, 60_000)

  it.scopedLive(
    "Telemetry.layer with an OTLP exporter: its headers' values and its endpoint's password",
    () =>
      Effect.gen(function*() {
        const collector = yield* httpServer(() => ({ status: 200, body: "{}" }))
        const apiKey = secret("otlp-key")
        const bearer = secret("otlp-bearer")
        const password = secret("otlp-password")
        const endpoint = collector.url.replace("://", `://collector:${encodeURIComponent(password)}@`) + "/v1/traces"
        yield* hiddenWhileInUse(
          Telemetry.layer({
            serviceName: "secrets-D-otlp",
            exporter: {
              _tag: "Otlp",
              endpoint,
              headers: { "x-api-key": Redacted.make(apiKey), authorization: Redacted.make(`Bearer ${bearer}`) }
            },
            logSink: () => undefined
          }),
          [apiKey, bearer, password, encodeURIComponent(password)]
        )
      }),
    60_000
  )

  it.scopedLive(
    "Telemetry.layer with an OTLP endpoint's userinfo and no authorization header: the Basic header it is sent as",
    () =>
      Effect.gen(function*() {
        const collector = yield* httpServer(() => ({ status: 200, body: "{}" }))
        const password = secret("otlp-basic")
        const endpoint = collector.url.replace("://", `://collector:${encodeURIComponent(password)}@`) + "/v1/traces"
        const basic = Buffer.from(`collector:${password}`).toString("base64")
        yield* hiddenWhileInUse(
          Telemetry.layer({
            serviceName: "secrets-D-otlp-basic",
            exporter: { _tag: "Otlp", endpoint, headers: {} },
            logSink: () => undefined
          }),
          [`Basic ${basic}`, basic, password]
        )
      }),
    60_000
  )
})

describe("the base URL of a service client built by hand, which has no scope", () => {
  it.scopedLive(
    "ServiceClient.make: the password of its base URL, from the client's build on",
    () =>
      Effect.gen(function*() {
        const password = secret("client-password")
        const expected = `Basic ${Buffer.from(`svc:${password}`).toString("base64")}`
        const upstream = yield* httpServer((request) =>
          request.headers.authorization === expected
            ? { status: 200, body: JSON.stringify({ data: { pong: true }, meta: {} }) }
            : { status: 401, body: JSON.stringify({ error: { code: "UNAUTHORIZED", message: "who?" }, meta: {} }) }
        )
        const baseUrl = upstream.url.replace("://", `://svc:${encodeURIComponent(password)}@`)
        const client = yield* Http.ServiceClient.make({
          name: "upstream",
          baseUrl,
          timeoutMs: 10_000,
          maxRetries: 0,
          retryBaseDelayMs: 10,
          breakerFailureThreshold: 5,
          breakerResetTimeoutMs: 30_000,
          breakerHalfOpenMaxCalls: 1
        })
        // The upstream takes the URL's credentials: the client sends them.
        expect(yield* client.get("/ping")).toEqual({ pong: true })
        // The service's own code quoting its base URL, and the password as written and as the URL holds it.
        const forms = [password, encodeURIComponent(password)]
        const shown = yield* written([baseUrl, ...forms])
        for (const form of forms) {
          expect(shown.line).not.toContain(form)
          expect(shown.attribute).not.toContain(form)
          expect(shown.event).not.toContain(form)
        }
        expect(shown.line).toContain(`http://svc:<redacted>@127.0.0.1`)
      }).pipe(Effect.provide(NodeHttpClient.layerUndici)),
    60_000
  )
})
