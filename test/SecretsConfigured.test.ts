/**
 * The configured secrets (the database password, the NATS token...) hidden in what a service's own code writes: a log
 * line quoting a URL that holds the database password (as written and percent-encoded), a span attribute and a log
 * line in a span holding the NATS token, and a log line of a daemon fiber forked outside every request. The service
 * runs on GlamLive against the machine's PostgreSQL and a nats-server of the test's own that requires the token; its
 * spans go to a local OTLP collector, which keeps every export.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Console, Deferred, Effect, Exit, Layer, Logger, Scope } from "effect"
import { randomBytes } from "node:crypto"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import * as util from "node:util"
import { Config as GlamConfig, makeGlamLive } from "../src/index.js"
import { hideCredentials } from "../src/internal/requestCredentials.js"
import { GlamLogger } from "../src/Telemetry/index.js"
import { captureStdout } from "./support/captureStdout.js"
import { eventually } from "./support/eventually.js"
import { httpServer } from "./support/httpServer.js"
import { startNatsServerWith } from "./support/natsServer.js"
import { serviceAvailable, services } from "./support/services.js"
import { toolAvailable } from "./support/tools.js"

const pgUp = await serviceAvailable("postgres")
const natsTool = toolAvailable("nats-server")

/** A local OTLP/HTTP collector that takes every export and keeps its body. */
const collector = httpServer(() => ({ status: 200, body: "{}" }))

/** The service's own code, given the values of its configuration, quoting them where it should not. */
const service = (password: string, token: string, host: string) =>
  Effect.gen(function*() {
    yield* Effect.logInfo(`connecting to postgres://app:${password}@${host}/orders`)
    yield* Effect.logInfo(`connecting to postgres://app:${encodeURIComponent(password)}@${host}/orders`)
    yield* Effect.annotateCurrentSpan("nats.credentials", `token=${token}`)
    yield* Effect.logInfo("authenticated").pipe(Effect.annotateLogs("nats_token", token))
    yield* Effect.logInfo(`in the span with ${token}`)
    // A daemon fiber, outside every request, logging the token.
    const done = yield* Deferred.make<void>()
    yield* Effect.forkDaemon(
      Effect.logWarning(`reconnecting with token ${token}`).pipe(Effect.zipRight(Deferred.succeed(done, undefined)))
    )
    yield* Deferred.await(done)
  }).pipe(Effect.withSpan("orders.start"))

describe.skipIf(!pgUp || !natsTool)("configured secrets hidden in a service's own log lines and spans", () => {
  it.scopedLive(
    "a URL with the database password, a span attribute with the NATS token, a daemon fiber",
    () =>
      Effect.gen(function*() {
        const stdout = yield* captureStdout
        // A password with characters a URL percent-encodes, so that its encoded form differs.
        const password = `pw/${randomBytes(12).toString("hex")}+@`
        const token = `tok-${randomBytes(12).toString("hex")}`
        const nats = yield* Effect.acquireRelease(
          Effect.promise(() => startNatsServerWith(["--auth", token])),
          (server) => Effect.promise(() => server.dispose())
        )
        const spans = yield* collector
        const { database, host, port, user } = services.postgres
        const root = mkdtempSync(Path.join(tmpdir(), "glam-secrets-D-"))
        mkdirSync(Path.join(root, "config", "services"), { recursive: true })
        writeFileSync(
          Path.join(root, "config", "services", "orders-service.yml"),
          [
            "service:",
            "  name: orders-service",
            "database:",
            `  host: ${host}`,
            `  port: ${port}`,
            `  user: ${user}`,
            `  name: ${database}`,
            // The machine's PostgreSQL trusts its clients: the password is sent and not needed.
            `  password: ${JSON.stringify(password)}`,
            "nats:",
            `  servers: [${nats.url}]`,
            `  token: ${token}`,
            "telemetry:",
            "  exporter: otlp",
            "  sampling_ratio: 1",
            "  otlp:",
            `    endpoint: ${spans.url}/v1/traces`,
            ""
          ].join("\n")
        )
        const scope = yield* Scope.make()
        const context = yield* Layer.buildWithScope(makeGlamLive({ service: "orders-service", root, env: {} }), scope)
        yield* service(password, token, host).pipe(Effect.provide(context))
        // The spans are flushed when the service stops.
        yield* Scope.close(scope, Exit.void)
        yield* eventually(
          Effect.sync(() => spans.bodies.join("\n")),
          (text) => text.includes("orders.start"),
          "the spans' export"
        )
        const lines = stdout.text()
        const exported = spans.bodies.join("\n")
        // What the service wrote is there, with the secrets replaced.
        expect(lines).toContain(`connecting to postgres://app:<redacted>@${host}/orders`)
        expect(lines).toMatch(/reconnecting with token <redacted>/)
        expect(exported).toContain("token=<redacted>")
        expect(exported).toContain("in the span with <redacted>")
        for (const secret of [password, encodeURIComponent(password), token]) {
          expect(lines).not.toContain(secret)
          expect(exported).not.toContain(secret)
        }
      }),
    { timeout: 120_000 }
  )
})

describe("configured secrets: which values, which forms, while in use", () => {
  const lines: Array<string> = []
  const logger = GlamLogger.layer({ service: "s", environment: "dev", format: "console", sink: (l) => lines.push(l) })
  const logged = (tree: GlamConfig.JsonObject, text: string) =>
    Effect.gen(function*() {
      lines.length = 0
      yield* Effect.logInfo(text).pipe(Effect.provide(Layer.merge(logger, GlamConfig.layerFromObject(tree))))
      return lines.join("\n").replace(/^.* - INFO - /, "")
    })

  it.effect("the password and token of URLs, secret keys, a header list; each as written, encoded and decoded", () =>
    Effect.gen(function*() {
      const tree = {
        database: { url: "postgres://app:p%40ss-word-1@db/app?sslmode=require" },
        redis: { url: "redis://:redis-pass-2@cache:6379" },
        nats: { servers: ["nats://nats-token-3@n1:4222"] },
        clients: { up: { base_url: "https://api.example/v1?api_key=client-key-4" } },
        auth: { secret: "jwt secret/5+" },
        telemetry: { otlp: { headers: "x-team=team-key-6,authorization=Bearer bearer-tok-7" } }
      }
      // Nine secrets, the JWT secret with a space.
      const text = "p%40ss-word-1 p@ss-word-1 redis-pass-2 nats-token-3 client-key-4 jwt secret/5+ " +
        "jwt%20secret%2F5%2B team-key-6 bearer-tok-7"
      expect(yield* logged(tree, text)).toBe(Array(9).fill("<redacted>").join(" "))
    }))

  it.effect("a secret with a quote, a backslash or a control character, as JSON text quotes it", () =>
    Effect.gen(function*() {
      const tree = { database: { password: "pa\"ss\\word-9" }, nats: { token: "tab\tted-token-10" } }
      // A service logging a JSON text it built (a request body, a serialized options object) holding them.
      const text = JSON.stringify({ password: "pa\"ss\\word-9", token: "tab\tted-token-10" })
      expect(text).toBe("{\"password\":\"pa\\\"ss\\\\word-9\",\"token\":\"tab\\tted-token-10\"}")
      expect(yield* logged(tree, text)).toBe("{\"password\":\"<redacted>\",\"token\":\"<redacted>\"}")
    }))

  it.effect("a value shorter than 8 characters, a URL's user name and the other keys are written as they are", () =>
    Effect.gen(function*() {
      const tree = {
        database: { url: "postgres://orders_service@db/orders_service", password: "short7!" },
        service: { name: "orders-service" },
        auth: { issuer: "https://issuer.example" }
      }
      const text = "orders_service short7! orders-service https://issuer.example"
      expect(yield* logged(tree, text)).toBe(text)
    }))

  it.effect("the secrets are hidden while their layer is in use, not after", () =>
    Effect.gen(function*() {
      const tree = { nats: { token: "released-token-8" } }
      expect(yield* logged(tree, "released-token-8")).toBe("<redacted>")
      lines.length = 0
      yield* Effect.logInfo("released-token-8").pipe(Effect.provide(logger))
      expect(lines.join("\n")).toMatch(/ - INFO - released-token-8$/)
    }))
})

describe("configured secrets in values the logger writes through their toJSON, and in the copy that hides them", () => {
  const password = `url-pw-${randomBytes(8).toString("hex")}`
  const tree = { database: { url: `postgres://app:${password}@db.internal/orders` } }
  const lines: Array<string> = []
  const logger = GlamLogger.layer({ service: "s", environment: "dev", format: "json", sink: (l) => lines.push(l) })
  const logged = <E>(effect: Effect.Effect<void, E>) =>
    Effect.gen(function*() {
      lines.length = 0
      yield* effect.pipe(Effect.provide(Layer.merge(logger, GlamConfig.layerFromObject(tree))))
      return lines.map((line) => JSON.parse(line) as Record<string, unknown>)
    })

  it.effect("a URL object (its state in private fields) in a message, an annotation and a failure", () =>
    Effect.gen(function*() {
      const url = new URL(`postgres://app:${password}@db.internal/orders`)
      const [message, annotated, failed] = yield* logged(Effect.gen(function*() {
        yield* Effect.logInfo(url)
        yield* Effect.logInfo("connecting").pipe(Effect.annotateLogs("target", { url }))
        yield* Effect.logError("connect failed", Cause.die({ url }))
      }))
      expect(JSON.stringify([message, annotated, failed])).not.toContain(password)
      expect(message!.message).toBe("postgres://app:<redacted>@db.internal/orders")
      expect(annotated!.target).toEqual({ url: "postgres://app:<redacted>@db.internal/orders" })
      expect(failed!.exception).toContain("postgres://app:<redacted>@db.internal/orders")
    }))

  it.effect("a Date and a Map beside the secret are written as they are, not as copies that cannot be read", () =>
    Effect.gen(function*() {
      const job = { note: `dsn postgres://app:${password}@db.internal`, at: new Date(0), tags: new Map([["a", 1]]) }
      const [line] = yield* logged(Effect.logInfo("job").pipe(Effect.annotateLogs("job", job)))
      expect(line!.job).toEqual({
        note: "dsn postgres://app:<redacted>@db.internal",
        at: "1970-01-01T00:00:00.000Z",
        tags: {}
      })
    }))
})

describe("a failure copied to hide a credential, printed by Effect's own loggers", () => {
  // What `Http.serve` logs of a defect quoting a request's credentials; a service may print it with Effect's loggers.
  const token = `req-token-${randomBytes(8).toString("hex")}`
  class UpstreamRefused extends Error {
    constructor(message: string, options?: ErrorOptions) {
      super(message, options)
      this.name = "UpstreamRefused"
    }
  }
  const defect = new UpstreamRefused(`upstream refused Bearer ${token}`, {
    cause: new Error(`token ${token} expired`)
  })
  const hidden = hideCredentials(Cause.die(defect), [token])
  const loggers = {
    defaultLogger: Logger.replace(Logger.defaultLogger, Logger.defaultLogger),
    pretty: Logger.pretty,
    json: Logger.json,
    logFmt: Logger.logFmt,
    structured: Logger.structured
  }

  for (const [name, layer] of Object.entries(loggers)) {
    it.effect(`Logger.${name}: the name, message, stack and cause, the credential hidden`, () =>
      Effect.gen(function*() {
        const out: Array<string> = []
        const write = (...args: ReadonlyArray<unknown>) =>
          void out.push(args.map((arg) => typeof arg === "string" ? arg : util.inspect(arg, { depth: 8 })).join(" "))
        const base = yield* Effect.console
        const console: Console.Console = { ...base, unsafe: { ...base.unsafe, log: write, error: write } }
        yield* Effect.logError("Unhandled failure", hidden).pipe(Effect.withConsole(console), Effect.provide(layer))
        const text = out.join("\n")
        expect(text).not.toContain(token)
        expect(text).toContain("UpstreamRefused: upstream refused Bearer <redacted>")
        expect(text).toContain("token <redacted> expired")
        expect(text).toContain("SecretsConfigured.test.ts")
      }))
  }
})
