/**
 * Credentials in server URLs never reach a log line, an error (message, cause chain, `String`, JSON, inspection), a
 * span or a metric, on failed and successful starts against the real servers; and NATS URL credentials log in.
 */
import * as RateLimiter from "@effect/experimental/RateLimiter"
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import {
  Cause,
  ConfigProvider,
  Context,
  Duration,
  Effect,
  Exit,
  Layer,
  Logger,
  LogLevel,
  Metric,
  Option,
  Redacted,
  Schedule,
  Tracer
} from "effect"
import fc from "fast-check"
import { spawn } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import * as http from "node:http"
import * as net from "node:net"
import * as path from "node:path"
import * as util from "node:util"
import { BusConfig, JetStream } from "../src/Bus/index.js"
import * as GlamConfig from "../src/Config/index.js"
import { Bus, Events, Http, makeGlamLive, Sql } from "../src/index.js"
import { GlamLogger, Tracing } from "../src/Telemetry/index.js"
import { rawRequest } from "./fixtures/http/server.js"
import { childEnv } from "./support/childEnv.js"
import { freePort } from "./support/localService.js"
import { startNatsServerWith } from "./support/natsServer.js"
import { spansText } from "./support/recordingTracer.js"
import { scratchDirs } from "./support/scratchDirs.js"
import { serviceAvailable, services } from "./support/services.js"

const pgUp = await serviceAvailable("postgres")
const natsUp = await serviceAvailable("nats")
const redisUp = await serviceAvailable("redis")

// Letters and digits only, so that no encoding of it (percent, JSON, inspection) differs from the text itself.
const secret = `hunter2s3cr3t${Math.random().toString(36).slice(2, 10)}`

const host = "db.internal"

/** Everything a failure shows: the pretty cause, and each error of it with its cause chain, inspected and as JSON. */
const renderExit = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return util.inspect(exit.value, { depth: 8 })
  const out = [Cause.pretty(exit.cause, { renderErrorCause: true })]
  const errors: Array<unknown> = [...Cause.failures(exit.cause), ...Cause.defects(exit.cause)]
  for (let error of errors) {
    for (let depth = 0; depth < 10 && error !== undefined && error !== null; depth++) {
      out.push(
        String(error),
        util.inspect(error, { depth: 20, showHidden: true }),
        (() => {
          try {
            return JSON.stringify(error) ?? ""
          } catch {
            return ""
          }
        })()
      )
      if (error instanceof Error) out.push(error.message, error.stack ?? "")
      error = (error as { cause?: unknown }).cause
    }
  }
  return out.join("\n")
}

/**
 * Runs an effect and returns its exit and everything it wrote: log lines (at DEBUG, in both formats, and what the
 * service's own logger writes to stdout), stdout, stderr, console, the spans it started and the metric snapshot.
 */
const observe = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const written: Array<string> = []
    const spans: Array<Tracer.Span> = []
    const base = yield* Effect.tracer
    const tracer = Tracer.make({
      span: (...args) => {
        const span = base.span(...args)
        spans.push(span)
        return span
      },
      context: base.context
    })
    const logger = Logger.make<unknown, void>((options) => {
      written.push(GlamLogger.formatConsole({ service: "test" }, options))
      written.push(GlamLogger.formatJson({ service: "test", environment: "test" }, options))
    })
    const restore = yield* Effect.sync(() => {
      const stdout = process.stdout.write
      const stderr = process.stderr.write
      const consoleMethods = { ...console }
      const record = (chunk: unknown) => {
        written.push(typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString("utf8"))
        return true
      }
      process.stdout.write = record as typeof process.stdout.write
      process.stderr.write = record as typeof process.stderr.write
      for (const name of ["log", "info", "warn", "error", "debug", "trace"] as const) {
        console[name] = (...args: Array<unknown>) => written.push(util.format(...args))
      }
      return () => {
        process.stdout.write = stdout
        process.stderr.write = stderr
        Object.assign(console, consoleMethods)
      }
    })
    const exit = yield* effect.pipe(
      Effect.withTracer(tracer),
      Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
      Logger.withMinimumLogLevel(LogLevel.All),
      Effect.exit,
      Effect.ensuring(Effect.sync(restore))
    )
    const metrics = yield* Metric.snapshot
    const text = [
      ...written,
      renderExit(exit),
      spansText(spans),
      util.inspect(metrics, { depth: 12 })
    ].join("\n")
    return { exit, text }
  })

/** Asserts that the secret appears nowhere; a failure shows where it was found. */
const expectNoSecret = (text: string) => {
  expect(text.length).toBeGreaterThan(0)
  const found: Array<string> = []
  for (let at = text.indexOf(secret); at !== -1; at = text.indexOf(secret, at + 1)) {
    found.push(text.slice(Math.max(0, at - 200), at + secret.length + 40))
  }
  expect(found).toEqual([])
}

const failureMessage = (exit: Exit.Exit<unknown, unknown>): string => {
  expect(Exit.isFailure(exit)).toBe(true)
  const failure = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
  return failure instanceof Error ? failure.message : String(failure)
}

/** A service's configuration root whose service file is the given tree (JSON is YAML), logging at DEBUG. */
const scratch = scratchDirs("glam-redaction-")

const configRoot = (tree: object, service = "catalog-service"): string => {
  const root = scratch()
  mkdirSync(path.join(root, "config", "services"), { recursive: true })
  writeFileSync(
    path.join(root, "config", "services", `${service}.yml`),
    JSON.stringify({ service: { name: service }, logging: { level: "DEBUG" }, ...tree })
  )
  return root
}

const pgUrl = (password: string, port: number = services.postgres.port) =>
  `postgres://${services.postgres.user}:${password}@${services.postgres.host}:${port}/${services.postgres.database}`

/** Starts the toolkit and, once started, publishes one event and runs one query. */
const startAndUse = (tree: object) =>
  Effect.gen(function*() {
    yield* Bus.publish(Events.CatalogEvents.SyncStarted, {
      merchant_id: "7c9e6679-7425-40de-944b-e07fc1f90ae7",
      sync_id: "redaction-test"
    }).pipe(Effect.catchAll(() => Effect.void))
    const sql = yield* SqlClient.SqlClient
    yield* sql`SELECT 1`
    return (yield* Bus.Bus).health
  }).pipe(Effect.provide(makeGlamLive({ service: "catalog-service", root: configRoot(tree), env: {} })))

const jetStreamOptions = (
  servers: ReadonlyArray<string>,
  extra: Partial<JetStream.JetStreamOptions> = {}
): JetStream.JetStreamOptions => ({
  servers,
  user: Option.none(),
  password: Option.none(),
  token: Option.none(),
  serviceName: "redaction-test",
  appEnv: "test",
  streams: BusConfig.defaultStreamLimits,
  publishTimeout: Duration.seconds(2),
  publishRetryBudget: Duration.seconds(2),
  ownStreams: Option.none(),
  ensureStreams: false,
  ...extra
})

/** Connects and round-trips a request to the server (proof of a login it accepted), then closes. */
const connectAndFlush = (options: JetStream.JetStreamOptions) =>
  JetStream.connection(options).pipe(
    Effect.flatMap((nc) => Effect.promise(() => nc.flush().then(() => nc.getServer()))),
    Effect.scoped
  )

describe("Redaction.redactUrlCredentials", () => {
  it("hides the userinfo and secret query parameters of every URL in a text", () => {
    const redact = GlamConfig.redactUrlCredentials
    expect(redact(`Cannot connect to nats://app:${secret}@n1:4222, nats://n2:4222`)).toBe(
      "Cannot connect to nats://***@n1:4222, nats://n2:4222"
    )
    expect(redact(`nats://${secret}@n1:4222`)).toBe("nats://***@n1:4222")
    // Raw `/` and `@` in a password (not percent-encoded) are hidden whole.
    expect(redact(`postgres://u:${secret}/x@y@db:5432/app`)).toBe("postgres://***@db:5432/app")
    expect(redact(`"postgres://db/app?sslmode=require&password=${secret}&application_name=a"`)).toBe(
      "\"postgres://db/app?sslmode=require&password=***&application_name=a\""
    )
    expect(redact("no URL here, nothing@hidden")).toBe("no URL here, nothing@hidden")
  })

  it("hides an OAuth code and a shared access signature (?code=, ?sig=), not a code of another name", () => {
    const redact = GlamConfig.redactUrlCredentials
    expect(redact(`https://app.example/oauth/callback?code=${secret}&state=s1`)).toBe(
      "https://app.example/oauth/callback?code=***&state=s1"
    )
    expect(redact(`https://acct.blob.example/c/b?sv=2024&sig=${secret}`)).toBe(
      "https://acct.blob.example/c/b?sv=2024&sig=***"
    )
    expect(redact("https://api.example/countries?country_code=FR")).toBe(
      "https://api.example/countries?country_code=FR"
    )
    // Quotes and brackets around a URL close it, not its last query value.
    expect(redact(`got "https://h/cb?code=${secret}" and (https://h/cb?sig=${secret})`)).toBe(
      "got \"https://h/cb?code=***\" and (https://h/cb?sig=***)"
    )
  })

  it("hides a userinfo written without `//` and a password holding quotes, `<`, `>` or a backtick", () => {
    const redact = GlamConfig.redactUrlCredentials
    expect(redact(`Cannot connect to app:${secret}@n1:4222 (timeout)`)).toBe("Cannot connect to ***@n1:4222 (timeout)")
    expect(redact(`nats:app:${secret}@n1`)).toBe("nats:***@n1")
    expect(redact(`nats://u:p"${secret}@n1:4222`)).toBe("nats://***@n1:4222")
    expect(redact(`postgres://u:a<${secret}>'\`@db/app`)).toBe("postgres://***@db/app")
    expect(redact(`"nats://u:${secret}'@n1:4222"`)).toBe("\"nats://***@n1:4222\"")
    expect(redact(`nats://a:${secret}@n1,nats://c:${secret}@n2:4222`)).toBe("nats://***@n1,nats://***@n2:4222")
    expect(redact(`nats://n1:4222,nats://c:${secret}@n2:4222`)).toBe("nats://n1:4222,nats://***@n2:4222")
    // A password holding `,scheme://` does not end the list element.
    expect(redact(`nats://a:x,y://${secret}@n1,nats://n2`)).toBe("nats://***@n1,nats://n2")
    // E-mail addresses are not credentials.
    expect(redact("mail ops@example.com or mailto:ops@example.com")).toBe(
      "mail ops@example.com or mailto:ops@example.com"
    )
  })

  it("never shows a generated password, and always shows the host", () => {
    // Whitespace ends a URL (a password with a space is percent-encoded in one), so the password has none.
    const char = fc.oneof(
      fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code)),
      fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 })
    )
    const password = fc.string({ unit: char, minLength: 4, maxLength: 40 }).filter((pw) => !/\s/u.test(pw))
    const user = fc.stringMatching(/^[a-z][a-z0-9_.-]{0,8}$/)
    const hostName = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}(?:\.[a-z]{2,6}){0,2}$/)
    const port = fc.integer({ min: 1, max: 65535 })
    const scheme = fc.constantFrom("nats", "tls", "postgres", "postgresql", "redis", "rediss", "mqtt", "https")
    const form = fc.constantFrom("url", "token", "schemeless", "nats-colon", "list")
    fc.assert(
      fc.property(form, scheme, user, password, hostName, port, (form, scheme, user, pw, host, port) => {
        const [url, expected] = form === "url" ?
          [`${scheme}://${user}:${pw}@${host}:${port}`, `${scheme}://***@${host}:${port}`] :
          form === "token" ?
          [`${scheme}://${pw}@${host}:${port}`, `${scheme}://***@${host}:${port}`] :
          form === "schemeless" ?
          [`${user}:${pw}@${host}:${port}`, `***@${host}:${port}`] :
          form === "nats-colon" ?
          [`nats:${user}:${pw}@${host}`, `nats:***@${host}`] :
          [
            `${scheme}://${user}:${pw}@${host}:${port},${scheme}://${pw}@${host}`,
            `${scheme}://***@${host}:${port},${scheme}://***@${host}`
          ]
        const shown = `Cannot connect to ${expected} (timeout)`
        // A password that the text shows anyway (`nats`, `timeout`) proves nothing; `user://...@host` is a URL whose
        // scheme is the user.
        fc.pre(!shown.includes(pw) && !(form === "schemeless" && pw.startsWith("//")))
        const out = GlamConfig.redactUrlCredentials(`Cannot connect to ${url} (timeout)`)
        expect(out).not.toContain(pw)
        expect(out).toContain(host)
        expect(out).toBe(shown)
      }),
      { numRuns: 2000 }
    )
  })

  it("Config.redactTree never shows a generated password, whitespace included, and always shows the host", () => {
    const char = fc.oneof(
      fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)),
      fc.constantFrom("\t", "\u00a0", "\u3000"),
      fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 })
    )
    const password = fc.string({ unit: char, minLength: 4, maxLength: 40 })
    const user = fc.stringMatching(/^[a-z][a-z0-9_.-]{0,8}$/)
    const hostName = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}(?:\.[a-z]{2,6}){0,2}$/)
    const separator = fc.constantFrom(",", ", ")
    fc.assert(
      fc.property(
        user,
        password,
        hostName,
        fc.integer({ min: 1, max: 65535 }),
        separator,
        (user, pw, host, port, sep) => {
          const expected = {
            database: { url: `postgres://***@${host}:${port}/app` },
            nats: { servers: [`nats://***@${host}:${port}`, `nats://***@${host}${sep}nats://${host}:4222`] }
          }
          fc.pre(!JSON.stringify(expected).includes(pw))
          const tree = GlamConfig.redactTree({
            database: { url: `postgres://${user}:${pw}@${host}:${port}/app` },
            nats: { servers: [`nats://${user}:${pw}@${host}:${port}`, `nats://${pw}@${host}${sep}nats://${host}:4222`] }
          })
          expect(JSON.stringify(tree)).not.toContain(JSON.stringify(pw).slice(1, -1))
          expect(JSON.stringify(tree)).toContain(host)
          expect(tree).toStrictEqual(expected)
        }
      ),
      { numRuns: 2000 }
    )
  })

  it("returns a long token without credentials unchanged (a backtracking pattern would not finish)", () => {
    const text = `//${"/".repeat(200_000)}?${"a".repeat(200_000)}`
    expect(GlamConfig.redactUrlCredentials(text)).toBe(text)
  })

  it("Config.redactTree hides URL credentials in any value, list elements included", () => {
    const tree = GlamConfig.redactTree({
      database: { url: `postgres://postgres:${secret}@${host}:5432/app` },
      nats: { servers: [`nats://app:${secret}@n1:4222`, "nats://n2:4222"] }
    })
    expect(tree).toStrictEqual({
      database: {
        url: `postgres://***@${host}:5432/app`
      },
      nats: { servers: ["nats://***@n1:4222", "nats://n2:4222"] }
    })
  })
})

describe.skipIf(!natsUp || !pgUp)("credentials in NATS server URLs", () => {
  it.live("a failed start shows the server without its password anywhere", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const { exit, text } = yield* observe(
        startAndUse({
          nats: { servers: [`nats://glam:${secret}@127.0.0.1:${port}`] },
          database: { url: pgUrl(secret) }
        })
      )
      expect(failureMessage(exit)).toContain(`Cannot connect to NATS at nats://127.0.0.1:${port}`)
      expectNoSecret(text)
    }))

  it.live(
    "user and password in the URL log in to a server that requires them, and are never shown",
    () =>
      Effect.acquireUseRelease(
        Effect.promise(() => startNatsServerWith(["--user", "glam", "--pass", secret])),
        (server) =>
          Effect.gen(function*() {
            const url = `nats://glam:${secret}@127.0.0.1:${server.port}`
            const { exit, text } = yield* observe(
              startAndUse({ nats: { servers: [url], ensure_streams: true }, database: { url: pgUrl(secret) } })
            )
            expect(Exit.isSuccess(exit)).toBe(true)
            expect(text).toContain(`Bus: connected to NATS 127.0.0.1:${server.port}`)
            expectNoSecret(text)

            // The same credentials also given as keys agree with the URL's.
            const agreeing = yield* connectAndFlush(
              jetStreamOptions([url], { user: Option.some("glam"), password: Option.some(Redacted.make(secret)) })
            )
            expect(agreeing).toBe(`127.0.0.1:${server.port}`)
            // Without them the server refuses: the URL's credentials are what logged in above.
            const refused = yield* Effect.exit(connectAndFlush(jetStreamOptions([server.url])))
            expect(failureMessage(refused)).toMatch(/auth/i)
          }),
        (server) => Effect.promise(() => server.dispose())
      ),
    { timeout: 60_000 }
  )

  it.live("a token in the URL logs in to a server that requires it", () =>
    Effect.acquireUseRelease(
      Effect.promise(() => startNatsServerWith(["--auth", secret])),
      (server) =>
        Effect.gen(function*() {
          const { exit, text } = yield* observe(
            connectAndFlush(jetStreamOptions([`nats://${secret}@127.0.0.1:${server.port}`]))
          )
          expect(Exit.isSuccess(exit)).toBe(true)
          expectNoSecret(text)
        }),
      (server) => Effect.promise(() => server.dispose())
    ), { timeout: 60_000 })

  it.live("URL credentials that differ from nats.password are refused at startup, naming the keys", () =>
    Effect.gen(function*() {
      const { exit, text } = yield* observe(
        startAndUse({
          nats: { servers: [`nats://glam:${secret}@127.0.0.1:${services.nats.port}`], password: `other${secret}` },
          database: { url: pgUrl(secret) }
        })
      )
      const message = failureMessage(exit)
      expect(message).toContain("nats.servers[0] carries credentials that differ from nats.password")
      expectNoSecret(text)
    }))

  it.live("servers with different credentials are refused", () =>
    Effect.gen(function*() {
      const { exit, text } = yield* observe(
        connectAndFlush(jetStreamOptions([`nats://a:${secret}@127.0.0.1:1`, `nats://b:${secret}@127.0.0.1:2`]))
      )
      expect(failureMessage(exit)).toContain("nats.servers[0] and nats.servers[1] carry different credentials")
      expectNoSecret(text)
    }))
})

describe.skipIf(!pgUp)("credentials in database.url", () => {
  it.live("a failed start shows the database without its password anywhere", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const { exit, text } = yield* observe(startAndUse({ database: { url: pgUrl(secret, port) } }))
      expect(failureMessage(exit)).toContain(`Cannot connect to PostgreSQL at ${services.postgres.host}:${port}`)
      expectNoSecret(text)
    }))

  it.live("an unparsable url fails without showing its password", () =>
    Effect.gen(function*() {
      const { exit, text } = yield* observe(
        startAndUse({ database: { url: `postgres://postgres:${secret}@127.0.0.1:notaport/x`, connect_timeout: 2000 } })
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expectNoSecret(text)
    }))

  it.live("a url with a password connects (the server trusts any), and the password is never shown", () =>
    Effect.gen(function*() {
      const { exit, text } = yield* observe(startAndUse({ database: { url: pgUrl(secret) } }))
      expect(Exit.isSuccess(exit)).toBe(true)
      expectNoSecret(text)
    }))
})

/** A test-owned redis-server (from PATH) that requires a password, stopped by its pid. */
const requirePassRedis = Effect.acquireRelease(
  Effect.gen(function*() {
    const port = yield* Effect.promise(freePort)
    const child = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--requirepass", secret],
      { stdio: "ignore" }
    )
    const accepts = Effect.async<void, Error>((resume) => {
      const socket = net.connect({ host: "127.0.0.1", port })
      socket.once("connect", () => {
        socket.destroy()
        resume(Effect.void)
      })
      socket.once("error", (e) => resume(Effect.fail(e)))
    })
    yield* Effect.retry(accepts, { schedule: Schedule.spaced("50 millis"), times: 200 }).pipe(Effect.orDie)
    return { port, child }
  }),
  ({ child }) =>
    Effect.async<void>((resume) => {
      if (child.exitCode !== null) return resume(Effect.void)
      child.once("exit", () => resume(Effect.void))
      child.kill("SIGTERM")
    })
)

describe.skipIf(!redisUp)("credentials in redis.url", () => {
  const limited = (url: string) =>
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.RateLimiter
      const app = Http.RateLimit.middleware(limiter, { limit: 100, windowMs: 60_000, prefix: "redaction-test:" })(
        HttpServerResponse.text("ok")
      )
      const request = HttpServerRequest.fromWeb(new Request("http://localhost/"))
      // The middleware is typed for any app; this one needs nothing but the request.
      const served = app as Effect.Effect<
        HttpServerResponse.HttpServerResponse,
        unknown,
        HttpServerRequest.HttpServerRequest
      >
      return yield* Effect.provideService(served, HttpServerRequest.HttpServerRequest, request)
    }).pipe(
      Effect.provide(Http.RateLimit.layerConfig),
      Effect.withConfigProvider(ConfigProvider.fromJson({ redis: { url } }))
    )

  it.scopedLive("the rate limiter logs in with the url's password, and never shows it", () =>
    Effect.gen(function*() {
      const { port } = yield* requirePassRedis
      const { exit, text } = yield* observe(limited(`redis://:${secret}@127.0.0.1:${port}`))
      expect(Exit.isSuccess(exit) && exit.value.status).toBe(200)
      expect(text).not.toContain("Rate limit store unavailable")
      expectNoSecret(text)
      // Without the password the server refuses the client, and startup says so: the url's password is what logged in
      // above.
      const refused = yield* observe(limited(`redis://127.0.0.1:${port}`))
      expect(refused.text).toContain("Redis refused the credentials of the Redis URL (redis.url), which carries none")
    }))

  it.live("an unreachable Redis lets requests through and never shows the password", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const { exit, text } = yield* observe(limited(`redis://:${secret}@127.0.0.1:${port}`))
      expect(Exit.isSuccess(exit) && exit.value.status).toBe(200)
      expect(text).toContain("Rate limit store unavailable")
      expectNoSecret(text)
    }))

  it.live("an unparsable url is a configuration error that hides the password", () =>
    Effect.gen(function*() {
      const { exit, text } = yield* observe(limited(`redis://:${secret}@127.0.0.1:notaport`))
      expect(failureMessage(exit)).toContain("redis://***@127.0.0.1:notaport")
      expectNoSecret(text)
      const direct = yield* observe(
        Layer.build(Http.RateLimit.layerRedis(`redis://:${secret}@127.0.0.1:notaport`)).pipe(Effect.scoped)
      )
      expect(Exit.isFailure(direct.exit)).toBe(true)
      expectNoSecret(direct.text)
    }))
})

describe.skipIf(!pgUp)("Sql.layer", () => {
  it.live("options with a url and a password fail without showing the password", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const { exit, text } = yield* observe(
        Layer.build(Sql.layer({ url: Redacted.make(pgUrl(secret, port)), connectTimeout: "2 seconds" })).pipe(
          Effect.scoped
        )
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expectNoSecret(text)
    }))
})

/** The settings of a client `upstream` at `baseUrl` that does not retry. */
const clientConfig = (baseUrl: string): Http.HttpConfig.ClientConfig => ({
  name: "upstream",
  baseUrl,
  timeoutMs: 5_000,
  maxRetries: 0,
  retryBaseDelayMs: 10,
  breakerFailureThreshold: 5,
  breakerResetTimeoutMs: 30_000,
  breakerHalfOpenMaxCalls: 1
})

describe("credentials in a client's base_url", () => {
  const call = (baseUrl: string) =>
    Effect.flatMap(Http.ServiceClient.make(clientConfig(baseUrl)), (client) => client.get("/api/v1/ping")).pipe(
      Effect.provide(NodeHttpClient.layerUndici)
    )

  /** A server that answers only requests with Basic credentials `upstream:<secret>`. */
  const basicAuthServer = Effect.acquireRelease(
    Effect.async<http.Server>((resume) => {
      const expected = `Basic ${Buffer.from(`upstream:${secret}`).toString("base64")}`
      const server = http.createServer((request, response) => {
        const ok = request.headers.authorization === expected
        response.writeHead(ok ? 200 : 401, { "content-type": "application/json" })
        response.end(JSON.stringify(ok ? { pong: true } : { error: "unauthorized" }))
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
      })
  )

  it.scopedLive("logs in with the URL's user and password, and never shows them", () =>
    Effect.gen(function*() {
      const server = yield* basicAuthServer
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      const { exit, text } = yield* observe(call(`http://upstream:${secret}@127.0.0.1:${port}`))
      expect(Exit.isSuccess(exit) && exit.value).toEqual({ pong: true })
      expectNoSecret(text)
    }))

  it.live("a failed call never shows them", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const { exit, text } = yield* observe(call(`http://upstream:${secret}@127.0.0.1:${port}`))
      expect(Exit.isFailure(exit)).toBe(true)
      expectNoSecret(text)
    }))

  it.live("a base_url that is not an http(s) URL fails each call without quoting it", () =>
    Effect.gen(function*() {
      for (const base of [`http://upstream:${secret}@127.0.0.1:99999`, `upstream:${secret}@127.0.0.1:1`]) {
        const { exit, text } = yield* observe(call(base))
        expect(failureMessage(exit)).toBe("Failed to connect to upstream")
        expectNoSecret(text)
      }
    }))

  it.live("read from the configuration, such a base_url fails it naming the key", () =>
    Effect.gen(function*() {
      const { exit, text } = yield* observe(
        Http.ServiceClient.fromConfig("upstream").pipe(
          Effect.provide(NodeHttpClient.layerUndici),
          Effect.provide(GlamConfig.layerFromObject({
            clients: { upstream: { base_url: `upstream:${secret}@127.0.0.1:1` } }
          }))
        )
      )
      expect(failureMessage(exit)).toContain("clients.upstream.base_url")
      expectNoSecret(text)
    }))
})

/** A server on 127.0.0.1 with `handler`, listening on a free port until the scope closes. */
const localServer = (handler: http.RequestListener) =>
  Effect.acquireRelease(
    Effect.async<{ readonly server: http.Server; readonly port: number }>((resume) => {
      const server = http.createServer(handler)
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        resume(Effect.succeed({ server, port: typeof address === "object" && address !== null ? address.port : 0 }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
      })
  )

/**
 * A server on 127.0.0.1 answering every request with `status`, `headers` and a JSON body, recording the targets it
 * got.
 */
const recordingServer = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  Effect.suspend(() => {
    const targets: Array<string> = []
    return Effect.map(
      localServer((request, response) => {
        targets.push(request.url ?? "")
        response.writeHead(status, { "content-type": "application/json", ...headers })
        response.end(JSON.stringify(body))
      }),
      ({ port, server }) => ({ server, port, targets })
    )
  })

describe("secrets in the query and headers of a client's calls", () => {
  const call = (baseUrl: string) =>
    Effect.flatMap(
      Http.ServiceClient.make(clientConfig(baseUrl)),
      (client) =>
        client.get(`/api/v1/items?api_key=${secret}&page=2`, {
          urlParams: { access_token: secret },
          headers: { "x-auth-token": secret }
        })
    ).pipe(Effect.provide(NodeHttpClient.layerUndici))

  it.scopedLive("are sent, and never reach the call's spans or its error", () =>
    Effect.gen(function*() {
      const upstream = yield* recordingServer(500, { detail: "no" })
      const { exit, text } = yield* observe(call(`http://127.0.0.1:${upstream.port}`))
      expect(upstream.targets).toEqual([`/api/v1/items?api_key=${secret}&page=2&access_token=${secret}`])
      expect(failureMessage(exit)).toMatch(/500/)
      expect(text).toContain("/api/v1/items?api_key=***&page=2")
      expect(text).toContain("access_token=***")
      expectNoSecret(text)
    }))

  it.live("a refused call never shows them", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const { exit, text } = yield* observe(call(`http://127.0.0.1:${port}`))
      expect(Exit.isFailure(exit)).toBe(true)
      expectNoSecret(text)
    }))

  it.scopedLive("a redirect's location, which the client does not follow, shows without the upstream's secret", () =>
    Effect.gen(function*() {
      const upstream = yield* recordingServer(302, {}, {
        location: `https://sso.example/callback?state=x&token=${secret}`
      })
      const { exit, text } = yield* observe(
        Effect.flatMap(
          Http.ServiceClient.make(clientConfig(`http://127.0.0.1:${upstream.port}`)),
          (client) => client.get("/login")
        ).pipe(Effect.provide(NodeHttpClient.layerUndici))
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(text).toContain("https://sso.example/callback?state=x&token=***")
      expectNoSecret(text)
    }))

  it.scopedLive("nor what the OpenTelemetry tracer exports of the call", () =>
    Effect.gen(function*() {
      const upstream = yield* recordingServer(500, { detail: "no" })
      // InMemorySpanExporter forgets its spans when the tracing layer's scope closes: these are kept.
      const exporter = new (class extends InMemorySpanExporter {
        override shutdown(): Promise<void> {
          return Promise.resolve()
        }
      })()
      const exit = yield* call(`http://127.0.0.1:${upstream.port}`).pipe(
        Effect.provide(Tracing.layer({
          serviceName: "redaction-test",
          exporter: { _tag: "None" },
          spanProcessors: [new SimpleSpanProcessor(exporter)]
        })),
        Effect.exit
      )
      expect(Exit.isFailure(exit)).toBe(true)
      const spans = exporter.getFinishedSpans()
      expect(spans.map((span) => span.name).sort()).toEqual(["ServiceClient.upstream", "http.client GET"])
      const exported = util.inspect(
        spans.map((span) => ({ attributes: span.attributes, events: span.events, status: span.status })),
        { depth: 8 }
      )
      expect(exported).toContain("api_key=***")
      expectNoSecret(exported)
    }))

  it.scopedLive("an upstream's error that echoes them reads <redacted> where it did", () =>
    Effect.gen(function*() {
      const upstream = yield* recordingServer(403, {
        error: {
          code: "FORBIDDEN",
          message: `api key ${secret} is revoked (token ${secret})`,
          details: { [secret]: `access_token=${secret}` }
        }
      })
      // The secret in the query only: no header carries it.
      const { exit, text } = yield* observe(
        Effect.flatMap(
          Http.ServiceClient.make(clientConfig(`http://127.0.0.1:${upstream.port}`)),
          (client) => client.get(`/items?tenant=t1&api_key=${secret}`, { urlParams: { access_token: `${secret}x` } })
        ).pipe(Effect.provide(NodeHttpClient.layerUndici))
      )
      expect(upstream.targets).toEqual([`/items?tenant=t1&api_key=${secret}&access_token=${secret}x`])
      expect(failureMessage(exit)).toBe("api key <redacted> is revoked (token <redacted>)")
      expectNoSecret(text)
    }))
})

describe("secrets in the requests a server answers", () => {
  const app = HttpRouter.empty.pipe(
    HttpRouter.get("/api/v1/items", HttpServerResponse.text("ok")),
    HttpRouter.get("/api/v1/boom", Effect.die(new Error("boom")))
  )
  const serving = Http.serve(app).pipe(
    Layer.provideMerge(NodeHttpServer.layer(() => Http.nodeServer({ service: "redaction-test" }), {
      port: 0,
      host: "127.0.0.1"
    })),
    Layer.provideMerge(Http.Readiness.layer),
    Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson({ service: { name: "redaction-test" } })))
  )

  it.live("a secret query parameter or credential header reaches no span, log or answer", () =>
    Effect.gen(function*() {
      const { exit, text } = yield* observe(Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(serving)
        const address = Context.get(context, HttpServer.HttpServer).address
        const port = address._tag === "TcpAddress" ? address.port : 0
        const answers: Array<string> = []
        for (const path of ["/api/v1/items", "/api/v1/boom", "/api/v1/none"]) {
          const response = yield* Effect.promise(() =>
            fetch(`http://127.0.0.1:${port}${path}?api_key=${secret}&access_token=${secret}&page=2`, {
              headers: {
                "x-auth-token": secret,
                "x-session-id": secret,
                "x-functions-key": secret,
                authorization: `Bearer ${secret}`,
                "idempotency-key": "idem-1",
                referer: `https://app.example/reset?token=${secret}&step=2`
              }
            })
          )
          answers.push(`${response.status} ${yield* Effect.promise(() => response.text())}`)
        }
        // The absolute form of the request target, with a userinfo (a proxy's form; Node's parser accepts it).
        const raw = yield* Effect.promise(() =>
          rawRequest(
            port,
            `GET http://app:${secret}@127.0.0.1:${port}/api/v1/items?token=${secret} HTTP/1.1\r\n` +
              `Host: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`
          )
        )
        answers.push(raw.slice(9, 12) + raw.slice(raw.indexOf("\r\n\r\n")))
        return answers
      })))
      expect(Exit.isSuccess(exit) && exit.value.map((answer) => answer.slice(0, 3))).toEqual([
        "200",
        "500",
        "404",
        "200"
      ])
      expect(text).toContain("api_key=***&access_token=***&page=2")
      expect(text).toContain("'http.request.header.idempotency-key' => 'idem-1'")
      expect(text).toContain("https://app.example/reset?token=***&step=2")
      expectNoSecret(text)
    }))
})

describe("credentials of the OTLP exporter", () => {
  /** A collector that refuses every export with a body quoting the request's credentials and URL. */
  const echoingCollector = Effect.suspend(() => {
    const exports: Array<string> = []
    return Effect.map(
      localServer((request, response) => {
        request.resume()
        request.on("end", () => {
          exports.push(request.url ?? "")
          const { authorization, "x-api-key": apiKey } = request.headers
          response.writeHead(401, { "content-type": "application/json" })
          response.end(JSON.stringify({ message: `refused ${authorization} ${apiKey} at ${request.url}` }))
        })
      }),
      ({ port, server }) => ({ server, port, exports })
    )
  })

  it.scopedLive("a refused export, whose answer quotes them, is logged without them", () =>
    Effect.gen(function*() {
      const collector = yield* echoingCollector
      const { exit, text } = yield* observe(Effect.scoped(Effect.gen(function*() {
        yield* Layer.build(Tracing.layer({
          serviceName: "redaction-test",
          exporter: {
            _tag: "Otlp",
            endpoint: `http://otlp:${secret}@127.0.0.1:${collector.port}/v1/traces?code=${secret}`,
            headers: { "x-api-key": Redacted.make(secret) }
          }
        }))
        yield* Effect.log("traced").pipe(Effect.withSpan("redaction-test"))
      })))
      expect(Exit.isSuccess(exit)).toBe(true)
      // The spans were flushed when the scope closed, and the refusal was logged.
      expect(collector.exports).toEqual([`/v1/traces?code=${secret}`])
      expect(text).toContain("401")
      expect(text).not.toContain(Buffer.from(`otlp:${secret}`).toString("base64"))
      expectNoSecret(text)
    }))
})

describe("credentials in auth.jwks_url", () => {
  const verifier = (jwksUrl: string) =>
    Http.JwtAuth.make({
      algorithms: ["RS256"],
      secret: Option.none(),
      publicKey: Option.none(),
      jwksUrl: Option.some(jwksUrl),
      issuer: Option.none(),
      audience: Option.none(),
      clockToleranceSeconds: 0
    })

  it.live("a url that cannot be read is a configuration error that does not quote it", () =>
    Effect.gen(function*() {
      const { exit, text } = yield* observe(verifier(`https://keys:${secret}@127.0.0.1:99999/jwks`))
      expect(failureMessage(exit)).toContain("auth.jwks_url")
      expectNoSecret(text)
    }))

  it.live("a url with credentials, which fetch never sends, is a configuration error that hides them", () =>
    Effect.gen(function*() {
      const { exit, text } = yield* observe(verifier(`https://keys:${secret}@127.0.0.1:8443/jwks`))
      expect(failureMessage(exit)).toContain("auth.jwks_url")
      expectNoSecret(text)
    }))
})

// A service as a user runs one (test/fixtures/service/main.ts: GlamLive and an HTTP server, `NodeRuntime.runMain`),
// as a process: everything it writes to stdout and stderr on a failed and on a successful start, at DEBUG.
describe.skipIf(!natsUp || !pgUp)("a service process with credentials in its URLs", () => {
  const root = path.resolve(import.meta.dirname, "..")
  const main = path.join(root, "test/fixtures/service/main.ts")

  /** Starts the service; `stop` is called with what it has written until it returns true, then SIGTERM. */
  const run = (tree: object, env: Record<string, string>, stopWhen?: (output: string) => boolean) =>
    new Promise<{ readonly code: number | null; readonly output: string }>((resolve, reject) => {
      let output = ""
      let stopped = false
      // Node itself with tsx's loader, not the tsx program: that one relays a SIGTERM to a child of its own and
      // kills it (exit 143) when the child has not acknowledged it within 30 ms, as on a loaded machine.
      const child = spawn(process.execPath, ["--import", "tsx", main, configRoot(tree, "orders-service")], {
        cwd: root,
        // Only what the service needs: no variable of the test's shell reaches its configuration.
        env: childEnv(env),
        stdio: ["ignore", "pipe", "pipe"]
      })
      const collect = (chunk: Buffer) => {
        output += chunk.toString("utf8")
        if (!stopped && stopWhen?.(output) === true) {
          stopped = true
          child.kill("SIGTERM")
        }
      }
      child.stdout.on("data", collect)
      child.stderr.on("data", collect)
      // Never left behind: a service that has not ended when the test gives up is killed (and the test fails).
      const guard = setTimeout(() => child.kill("SIGKILL"), 140_000)
      child.once("error", reject)
      child.once("close", (code) => {
        clearTimeout(guard)
        resolve({ code, output })
      })
    })

  it("a start that fails on NATS (prod, JSON lines) writes the server without its password", async () => {
    const port = await freePort()
    const { code, output } = await run(
      { nats: { servers: [`nats://glam:${secret}@127.0.0.1:${port}`] }, database: { url: pgUrl(secret) } },
      { APP_ENV: "prod" }
    )
    expect(code).toBe(1)
    expect(output).toContain(`Cannot connect to NATS at nats://127.0.0.1:${port}`)
    expectNoSecret(output)
  }, 150_000)

  it("a start that fails on PostgreSQL (dev, console) writes the database without its password", async () => {
    const port = await freePort()
    const { code, output } = await run({ database: { url: pgUrl(secret, port), connect_timeout: 2000 } }, {})
    expect(code).toBe(1)
    expect(output).toContain(`Cannot connect to PostgreSQL at ${services.postgres.host}:${port}`)
    expectNoSecret(output)
  }, 150_000)

  it("a start that succeeds (logged in to NATS with the URL's credentials) and stops writes no password", async () => {
    const server = await startNatsServerWith(["--user", "glam", "--pass", secret])
    try {
      const httpPort = await freePort()
      const { code, output } = await run(
        {
          nats: { servers: [`nats://glam:${secret}@127.0.0.1:${server.port}`] },
          database: { url: pgUrl(secret) },
          http: { host: "127.0.0.1", port: httpPort }
        },
        {},
        (written) => written.includes(`Listening on http://127.0.0.1:${httpPort}`)
      )
      expect(output).toContain(`Bus: connected to NATS 127.0.0.1:${server.port}`)
      expect(output).toContain(`Listening on http://127.0.0.1:${httpPort}`)
      expect(code).toBe(0)
      expectNoSecret(output)
    } finally {
      await server.dispose()
    }
  }, 150_000)
})
