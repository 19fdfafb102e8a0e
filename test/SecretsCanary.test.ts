/**
 * A sweep for secrets: every secret-bearing input of a service holds a canary (a text no other code writes), the
 * service is driven through its startup, its work and its failures on real servers of the test's own (credentials
 * refused, servers unreachable, an upstream and a collector that quote what they were sent), and no canary may appear
 * in what it shows: its log output, its spans as exported, `/metrics`, the readiness answer, the responses, the
 * errors (`Cause.pretty`, their JSON, their causes) and the startup error printed by the runtime.
 *
 * Inputs: `database.url` and `database.password` (a PostgreSQL with scram-sha-256), `nats.user`/`password`,
 * `nats.token` and credentials in `nats.servers`, `redis.url` (a redis-server with `requirepass`), `mqtt.password`
 * and credentials in `mqtt.broker_url` (a mosquitto with a password file), `auth.secret`, `auth.private_key`,
 * `auth.public_key`, `telemetry.otlp.headers` and the endpoint's query, `clients.<name>.base_url` credentials and a
 * call's `?api_key=`; a request's `Authorization` (a bearer refused, a token the service signed), `Cookie`,
 * `X-Api-Key`, `?api_key=` and `?access_token=`, sent to routes that answer 200, 401, 404, 500 (a defect quoting the
 * request's URL and headers) and log the request's headers and URL.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Context, Deferred, Effect, Exit, Layer, Option, Schema, Scope } from "effect"
import * as jose from "jose"
import { execFile } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdirSync, writeFileSync } from "node:fs"
import * as NodeHttp from "node:http"
import * as Path from "node:path"
import * as util from "node:util"
import { Bus, Cache, Devices, Errors, Events, Http, makeGlamLive, Sql } from "../src/index.js"
import { startPostgres } from "./reliability/support/postgres.js"
import { captureStdout } from "./support/captureStdout.js"
import { childEnv } from "./support/childEnv.js"
import { eventually } from "./support/eventually.js"
import { httpServer } from "./support/httpServer.js"
import { startMosquitto } from "./support/mosquittoServer.js"
import { startNatsServerWith } from "./support/natsServer.js"
import { startRedis } from "./support/redisServer.js"
import { scratchDirs } from "./support/scratchDirs.js"
import { serviceAvailable, services } from "./support/services.js"
import { toolAvailable } from "./support/tools.js"

const pgUp = await serviceAvailable("postgres")
const tools = (["nats-server", "redis-server", "mosquitto", "initdb", "pg_ctl"] as const).every((tool) =>
  toolAvailable(tool)
)

// ---------------------------------------------------------------------------------------------------------------
// Canaries and what the service showed

/** Each canary by what it stands for; its random tail is searched for alone too, so a cut one is still found. */
const canaries = new Map<string, string>()

const canary = (name: string, length = 12): string => {
  const value = `cnry-${name}-${randomBytes(length).toString("hex")}`
  canaries.set(name, value)
  return value
}

interface Seen {
  readonly where: string
  readonly text: string
}

const seen: Array<Seen> = []

const json = (value: unknown): string => {
  try {
    return JSON.stringify(value) ?? ""
  } catch (error) {
    return `[not JSON: ${String(error)}]`
  }
}

/** Keeps what the service showed: a text as it is, another value as `util.inspect` and JSON show it. */
const record = (where: string, value: unknown): void => {
  seen.push({
    where,
    text: typeof value === "string" ? value : `${util.inspect(value, { depth: 30, showHidden: false })}\n${json(value)}`
  })
}

/** A failure as a service sees it: `Cause.pretty` (causes rendered), the cause as JSON and inspected, its errors. */
const recordCause = (where: string, cause: Cause.Cause<unknown>): void => {
  record(`${where} (Cause.pretty)`, Cause.pretty(cause, { renderErrorCause: true }))
  record(`${where} (cause)`, cause)
  for (const failure of [...Cause.failures(cause), ...Cause.defects(cause)]) record(`${where} (error)`, failure)
}

/** Where each canary appears in what was recorded: `<canary> in <where>`. */
const leaks = (): Array<string> =>
  seen.flatMap(({ text, where }) =>
    [...canaries].filter(([, value]) => text.includes(value) || text.includes(value.slice(-16)))
      .map(([name]) => `${name} in ${where}: ...${excerpt(text, canaries.get(name)!)}...`)
  )

const excerpt = (text: string, value: string): string => {
  const at = Math.max(text.indexOf(value), text.indexOf(value.slice(-16)))
  return text.slice(Math.max(0, at - 160), at + value.length + 40)
}

const allSeen = (): string => seen.map((s) => s.text).join("\n")

// ---------------------------------------------------------------------------------------------------------------
// Helpers

const scratch = scratchDirs("glam-canary-C-")

const configRoot = (service: string, yaml: string): string => {
  const root = scratch()
  mkdirSync(Path.join(root, "config", "services"), { recursive: true })
  writeFileSync(Path.join(root, "config", "services", `${service}.yml`), yaml)
  return root
}

/** Builds the layer, which must fail; records its cause and returns its failure. */
const startupFailure = <A, E>(where: string, layer: Layer.Layer<A, E>) =>
  Effect.gen(function*() {
    const exit = yield* Layer.build(layer).pipe(Effect.scoped, Effect.exit)
    if (Exit.isSuccess(exit)) return yield* Effect.dieMessage(`${where}: started`)
    recordCause(where, exit.cause)
    return Option.getOrUndefined(Cause.failureOption(exit.cause))
  })

/** What a server that quotes the credentials it was given says: the header, and a Basic one decoded. */
const quoted = (request: NodeHttp.IncomingMessage): string => {
  const authorization = request.headers.authorization ?? ""
  const basic = authorization.startsWith("Basic ")
    ? Buffer.from(authorization.slice(6), "base64").toString("utf8")
    : ""
  return `refused ${request.method} ${request.url} with authorization ${authorization} (${basic})`
}

/** Runs the service of `test/fixtures/service/main.ts` (an HTTP server on GlamLive under `NodeRuntime.runMain`). */
const launch = (root: string, env: Record<string, string>) =>
  Effect.promise(() =>
    new Promise<{ readonly code: number | null; readonly stdout: string; readonly stderr: string }>((resolve) => {
      const repository = Path.resolve(import.meta.dirname, "..")
      execFile(
        Path.join(repository, "node_modules/.bin/tsx"),
        [Path.join(repository, "test/fixtures/service/main.ts"), root],
        {
          cwd: repository,
          env: childEnv(env),
          timeout: 120_000
        },
        (error, stdout, stderr) =>
          resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : null, stdout, stderr })
      )
    })
  )

/** A server of the test's own, stopped when the scope closes. */
const owned = <S>(start: () => Promise<S>, stop: (server: S) => Promise<void>) =>
  Effect.acquireRelease(Effect.promise(start), (server) => Effect.promise(() => stop(server)))

/** `canary-service`'s configuration: the machine's PostgreSQL (database `name`), then the lines of `more`. */
const serviceYaml = (name: string, more: ReadonlyArray<string>): string => {
  const { host, port, user } = services.postgres
  return [
    "service:",
    "  name: canary-service",
    "database:",
    `  host: ${host}`,
    `  port: ${port}`,
    `  user: ${user}`,
    `  name: ${name}`,
    ...more,
    ""
  ].join("\n")
}

/**
 * Builds a layer that serves HTTP on a free port of the loopback in `scope`; its context, and a request to it whose
 * answer (status, headers, body) is recorded.
 */
const served = <ROut, E>(layer: Layer.Layer<ROut, E>, scope: Scope.Scope) =>
  Effect.map(Layer.buildWithScope(layer, scope), (context) => {
    const address = Context.unsafeGet(context, HttpServer.HttpServer).address
    const base = address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : ""
    const send = (path: string, headers: Record<string, string> = {}) =>
      Effect.promise(async () => {
        const response = await fetch(base + path, { headers })
        const text = await response.text()
        record(`response ${path}`, `${response.status} ${JSON.stringify([...response.headers])} ${text}`)
        return { status: response.status, text }
      })
    return { context, send }
  })

/** An HTTP server on a free port of the loopback, for `Http.serve`. */
const loopbackServer = NodeHttpServer.layer(() => Http.nodeServer({}), { port: 0, host: "127.0.0.1" })

const unusedPort = 1 // Nothing listens on port 1 of the loopback: connections to it are refused.

// ---------------------------------------------------------------------------------------------------------------

describe.skipIf(!pgUp || !tools)("secrets never reach a log, an error, a span or a metric (canaries)", () => {
  it.scopedLive(
    "GlamLive whose servers refuse the credentials, or are not there: its startup errors and logs",
    () =>
      Effect.gen(function*() {
        const stdout = yield* captureStdout
        const rightPassword = `right-C-${randomBytes(6).toString("hex")}`
        const pg = yield* owned(() => startPostgres({ password: rightPassword }), (server) => server.dispose())
        const natsUserPass = yield* owned(
          () => startNatsServerWith(["--user", "glam-c", "--pass", rightPassword]),
          (server) => server.dispose()
        )
        const natsToken = yield* owned(
          () => startNatsServerWith(["--auth", rightPassword]),
          (server) => server.dispose()
        )
        const { database, host, port, user } = services.postgres
        const machineDb = {
          CANARY_DATABASE__HOST: host,
          CANARY_DATABASE__PORT: String(port),
          CANARY_DATABASE__USER: user,
          CANARY_DATABASE__NAME: database
        }
        const root = configRoot("canary-service", "service:\n  name: canary-service\n")
        const cases: ReadonlyArray<{ name: string; env: Record<string, string>; says: RegExp }> = [
          {
            name: "database.url, password refused",
            env: {
              CANARY_DATABASE__URL: `postgres://postgres:${
                canary("database-url-password")
              }@127.0.0.1:${pg.port}/postgres`
            },
            says: /password authentication failed/
          },
          {
            name: "database.password, refused",
            env: {
              CANARY_DATABASE__HOST: "127.0.0.1",
              CANARY_DATABASE__PORT: String(pg.port),
              CANARY_DATABASE__USER: "postgres",
              CANARY_DATABASE__PASSWORD: canary("database-password")
            },
            says: /password authentication failed/
          },
          {
            name: "database.url, unreachable",
            env: {
              CANARY_DATABASE__URL: `postgres://${canary("database-url-user")}:${
                canary("database-url-password-2")
              }@127.0.0.1:${unusedPort}/app?password=${canary("database-url-query")}`,
              CANARY_DATABASE__CONNECT_TIMEOUT: "2 seconds"
            },
            says: /ECONNREFUSED|connect|reach/i
          },
          {
            name: "nats.user and nats.password, refused",
            env: {
              ...machineDb,
              CANARY_NATS__SERVERS: natsUserPass.url,
              CANARY_NATS__USER: "glam-c",
              CANARY_NATS__PASSWORD: canary("nats-password"),
              CANARY_NATS__CONNECT_TIMEOUT: "3 seconds"
            },
            says: /Authorization|auth/i
          },
          {
            name: "nats.token, refused",
            env: {
              ...machineDb,
              CANARY_NATS__SERVERS: natsToken.url,
              CANARY_NATS__TOKEN: canary("nats-token"),
              CANARY_NATS__CONNECT_TIMEOUT: "3 seconds"
            },
            says: /Authorization|auth/i
          },
          {
            name: "nats.servers with credentials, refused",
            env: {
              ...machineDb,
              CANARY_NATS__SERVERS: `nats://${canary("nats-url-user")}:${
                canary("nats-url-password")
              }@127.0.0.1:${natsUserPass.port}`,
              CANARY_NATS__CONNECT_TIMEOUT: "3 seconds"
            },
            says: /Authorization|auth/i
          },
          {
            name: "nats.servers with a token, unreachable",
            env: {
              ...machineDb,
              CANARY_NATS__SERVERS: `nats://${canary("nats-url-token")}@127.0.0.1:${unusedPort}`,
              CANARY_NATS__CONNECT_TIMEOUT: "2 seconds"
            },
            says: /Cannot connect to NATS/
          }
        ]
        for (const { env, name, says } of cases) {
          const error = yield* startupFailure(name, makeGlamLive({ service: "canary-service", root, env }))
          expect(error?._tag, name).toBe("StartupError")
          expect(error?.message, name).toMatch(says)
        }
        record("stdout", stdout.text())
        // A service launched by `NodeRuntime.runMain` in prod: the line the runtime prints when it cannot start.
        const launched = yield* launch(
          configRoot(
            "orders-service",
            "service:\n  name: orders-service\n" +
              `database:\n  url: postgres://postgres:${
                canary("launched-database-password")
              }@127.0.0.1:${pg.port}/postgres\n` +
              `nats:\n  servers: [nats://127.0.0.1:${natsToken.port}]\n  token: ${canary("launched-nats-token")}\n`
          ),
          { APP_ENV: "prod" }
        )
        record("the launched service's stdout", launched.stdout)
        record("the launched service's stderr", launched.stderr)
        expect(launched.code).toBe(1)
        expect(launched.stdout).toMatch(/password authentication failed|Authorization Violation/)
        expect(leaks()).toEqual([])
      }),
    { timeout: 180_000 }
  )

  it.scopedLive(
    "a service on GlamLive over HTTP: its requests, an upstream and a collector, logs, spans, /metrics",
    () =>
      Effect.gen(function*() {
        const stdout = yield* captureStdout
        // The collector refuses the first exports quoting the credentials it was sent, then takes them; every body
        // (the spans as exported) is kept.
        const collector = yield* httpServer((request, _body, n) =>
          n <= 2
            ? { status: n === 1 ? 401 : 500, body: JSON.stringify({ error: quoted(request) }) }
            : { status: 200, body: "{}" }
        )
        // The upstream fails every call, quoting the request and its credentials.
        const upstream = yield* httpServer((request) => ({
          status: 500,
          body: JSON.stringify({ error: { code: "INTERNAL_ERROR", message: quoted(request) } })
        }))
        const jwtSecret = canary("auth-secret", 24)
        const root = configRoot(
          "canary-service",
          serviceYaml(services.postgres.database, [
            // The machine's PostgreSQL trusts its clients: the password is sent and not needed.
            `  password: ${canary("database-password-accepted")}`,
            "telemetry:",
            "  exporter: otlp",
            "  sampling_ratio: 1",
            "  otlp:",
            `    endpoint: ${collector.url}/v1/traces?api_key=${canary("otlp-endpoint-query")}`,
            "    headers:",
            `      authorization: Bearer ${canary("otlp-bearer")}`,
            `      x-honeycomb-team: ${canary("otlp-team")}`,
            "auth:",
            `  secret: ${jwtSecret}`,
            "  algorithms: [HS256]",
            "clients:",
            "  upstream:",
            `    base_url: http://${canary("client-user")}:${canary("client-password")}@${upstream.url.slice(7)}`,
            "    max_retries: 0",
            "rate_limit:",
            "  enabled: false"
          ])
        )
        const fail = (request: HttpServerRequest.HttpServerRequest) =>
          `handler failed on ${request.url} with headers ${JSON.stringify(request.headers)}`
        const router = HttpRouter.empty.pipe(
          HttpRouter.get("/api/v1/items/:id", Http.ApiEnvelope.success({ ok: true })),
          HttpRouter.get(
            "/api/v1/secure",
            Effect.zipRight(Http.JwtAuth.requireAuth, Http.ApiEnvelope.success({ ok: true }))
          ),
          HttpRouter.get(
            "/api/v1/defect",
            Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => Effect.die(new Error(fail(request))))
          ),
          HttpRouter.get(
            "/api/v1/logged",
            Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
              Effect.logWarning("request seen", request.headers).pipe(
                Effect.annotateLogs({ headers: request.headers, url: request.url }),
                Effect.zipRight(Http.ApiEnvelope.success({ ok: true }))
              ))
          ),
          HttpRouter.get(
            "/api/v1/upstream",
            Effect.flatMap(
              Http.ServiceClient.fromConfig("upstream"),
              (client) =>
                client.get(`/api/v1/things?api_key=${canary("client-query")}&page=2`)
            ).pipe(Effect.zipRight(Http.ApiEnvelope.success({ ok: true })))
          )
        )
        const scope = yield* Scope.make()
        const { send } = yield* served(
          Http.serve(router).pipe(
            Layer.provide(Http.JwtAuth.layerConfig),
            Layer.provideMerge(loopbackServer),
            Layer.provide(NodeHttpClient.layerUndici),
            Layer.provideMerge(makeGlamLive({ service: "canary-service", root, env: {} }))
          ),
          scope
        )
        const credentials = {
          authorization: `Bearer ${canary("request-bearer")}`,
          cookie: `session=${canary("request-cookie")}`,
          "x-api-key": canary("request-api-key")
        }
        const query = `?api_key=${canary("request-query")}&access_token=${canary("request-token")}`
        const valid = yield* Effect.promise(() =>
          new jose.SignJWT({ sub: "user-7" }).setProtectedHeader({ alg: "HS256" }).setIssuedAt().setExpirationTime("5m")
            .sign(new TextEncoder().encode(jwtSecret))
        )
        // A token the service signed is a credential too.
        canaries.set("request-jwt", valid)
        const signedIn = { ...credentials, authorization: `Bearer ${valid}` }
        expect((yield* send(`/api/v1/items/1${query}`, credentials)).status).toBe(401)
        expect((yield* send(`/api/v1/secure${query}`, { cookie: credentials.cookie })).status).toBe(401)
        expect((yield* send(`/api/v1/items/1${query}`, signedIn)).status).toBe(200)
        expect((yield* send(`/api/v1/secure${query}`, signedIn)).status).toBe(200)
        expect((yield* send(`/api/v1/nothing-here${query}`, signedIn)).status).toBe(404)
        expect((yield* send(`/api/v1/defect${query}`, signedIn)).status).toBe(500)
        expect((yield* send(`/api/v1/logged${query}`, signedIn)).status).toBe(200)
        expect((yield* send(`/api/v1/upstream${query}`, signedIn)).status).toBeGreaterThanOrEqual(500)
        const metrics = yield* send("/metrics", {})
        expect(metrics.text).toContain("http_requests_total")
        const ready = yield* send("/api/v1/ready", {})
        expect(ready.text).toContain("database")
        // The spans are flushed when the service stops: the layer's scope closes here.
        yield* Scope.close(scope, Exit.void)
        yield* eventually(
          Effect.sync(() =>
            collector.bodies.join("\n")
          ),
          (text) => text.includes("http.server"),
          "the spans' export"
        )
        for (const [i, body] of collector.bodies.entries()) record(`export ${i + 1} to the collector`, body)
        for (const [i, body] of upstream.bodies.entries()) record(`call ${i + 1} to the upstream`, body)
        record("stdout", stdout.text())
        // The capture saw the failures.
        expect(stdout.text()).toContain("OTLP export failed (HTTP 401)")
        expect(stdout.text()).toContain("Unhandled failure")
        expect(allSeen()).toContain("refused GET /api/v1/things")
        expect(leaks()).toEqual([])
      }),
    { timeout: 120_000 }
  )

  it.scopedLive(
    "Cache, RateLimit, Devices and JwtIssuer on GlamLive: accepted, refused, unreachable, misconfigured",
    () =>
      Effect.gen(function*() {
        const stdout = yield* captureStdout
        const redisPassword = canary("redis-password")
        const redis = yield* owned(() => startRedis({ password: redisPassword }), (server) => server.stop())
        const mqttPassword = canary("mqtt-password")
        const mosquitto = yield* owned(() => startMosquitto({ users: { "glam-c": mqttPassword } }), (server) =>
          server.dispose())
        const { host, port, user } = services.postgres
        // A database of its own, for the devices table.
        const database = `glam_canary_c_${randomBytes(4).toString("hex")}`
        const admin = (statement: string) =>
          Effect.flatMap(SqlClient.SqlClient, (sql) =>
            sql.unsafe(statement)).pipe(
              Effect.provide(Sql.layer({ host, port, user })),
              Effect.orDie
            )
        yield* Effect.acquireRelease(
          admin(`CREATE DATABASE ${database}`),
          () => admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
        )
        const migrations = Sql.Migrations.fromRecord({ "0001_devices": Devices.DeviceMigrations.devicesMigration })
        const yaml = (redisUrl: string, mqtt: string, auth: string) =>
          serviceYaml(database, [
            "  migrate_on_start: true",
            "redis:",
            `  url: ${redisUrl}`,
            "cache:",
            "  timeout: 2 seconds",
            "mqtt:",
            mqtt,
            "  connect_timeout: 5 seconds",
            "  client_id: canary-c",
            "auth:",
            auth
          ])
        const accepted = configRoot(
          "canary-service",
          yaml(
            `redis://default:${redisPassword}@127.0.0.1:${redis.port}`,
            `  broker_url: ${mosquitto.url}\n  username: glam-c\n  password: ${mqttPassword}`,
            `  secret: ${canary("auth-secret-issuer", 24)}\n  algorithms: [HS256]`
          )
        )
        // Accepted: each works, its secrets set.
        yield* Effect.gen(function*() {
          const value = yield* Cache.getOrSet("canary:c", Schema.String, Effect.succeed("cached"))
          expect(value).toBe("cached")
          const issuer = yield* Http.JwtIssuer.JwtIssuer
          const tokens = yield* issuer.issueTokens({ userId: "user-7", role: "admin" })
          expect(tokens.access_token.length).toBeGreaterThan(0)
          yield* Devices.registerDevice({ device_id: "meter-c", device_type: "meter", topics: [] })
        }).pipe(
          Effect.provide(
            Layer.mergeAll(
              Cache.layerConfig,
              Http.RateLimit.layerConfig,
              Devices.layerConfig(),
              Http.JwtIssuer.layerConfig
            )
              .pipe(
                Layer.provideMerge(makeGlamLive({ service: "canary-service", root: accepted, env: {}, migrations }))
              )
          ),
          Effect.scoped
        )
        const wrong = configRoot(
          "canary-service",
          yaml(
            `redis://default:${canary("redis-wrong-password")}@127.0.0.1:${redis.port}`,
            `  broker_url: ${mosquitto.url}\n  username: glam-c\n  password: ${canary("mqtt-wrong-password")}`,
            `  private_key: "-----BEGIN PRIVATE KEY-----\\n${
              canary("auth-private-key")
            }\\n-----END PRIVATE KEY-----"\n` +
              "  algorithms: [RS256]"
          )
        )
        const unreachable = configRoot(
          "canary-service",
          yaml(
            `redis://${canary("redis-user")}:${canary("redis-unreachable-password")}@127.0.0.1:${unusedPort}`,
            `  broker_url: mqtt://${canary("mqtt-url-user")}:${canary("mqtt-url-password")}@127.0.0.1:${unusedPort}`,
            `  public_key: ${canary("auth-public-key")}\n  algorithms: [RS256]`
          )
        )
        // Each module alone on GlamLive: it fails to start, or (a cache without strict, whose Redis is away) starts and
        // says so when used.
        const modules = [
          [
            "cache",
            Layer.build(Cache.layerConfig).pipe(
              Effect.flatMap((context) => Cache.get("canary:c", Schema.String).pipe(Effect.provide(context)))
            )
          ],
          ["rate limit", Layer.build(Http.RateLimit.layerConfig)],
          ["devices", Layer.build(Devices.layerConfig())],
          ["jwt issuer", Layer.build(Http.JwtIssuer.layerConfig)],
          ["jwt verifier", Layer.build(Http.JwtAuth.layerConfig)]
        ] as const
        for (const [name, root] of [["refused", wrong], ["unreachable", unreachable]] as const) {
          for (const [module, use] of modules) {
            const exit = yield* (use as Effect.Effect<unknown, unknown, SqlClient.SqlClient>).pipe(
              Effect.provide(makeGlamLive({ service: "canary-service", root, env: {}, migrations })),
              Effect.scoped,
              Effect.exit
            )
            if (Exit.isFailure(exit)) recordCause(`${module}, ${name}`, exit.cause)
          }
        }
        record("stdout", stdout.text())
        // The capture saw the refusals.
        expect(allSeen()).toContain("Redis refused the credentials")
        expect(allSeen()).toContain("refused the client")
        expect(leaks()).toEqual([])
      }),
    { timeout: 120_000 }
  )

  it.scopedLive(
    "the Bus on a NATS server with credentials: consumed, dead-lettered, server gone; a client unreachable",
    () =>
      Effect.gen(function*() {
        const stdout = yield* captureStdout
        const natsPassword = canary("nats-right-password")
        const nats = yield* owned(() => startNatsServerWith(["--user", "glam-c", "--pass", natsPassword]), (server) =>
          server.dispose())
        const root = configRoot(
          "canary-service",
          serviceYaml(services.postgres.database, [
            "nats:",
            `  servers: [nats://glam-c:${natsPassword}@127.0.0.1:${nats.port}]`,
            "  publish_timeout: 1 second",
            "  publish_retry_budget: 2 seconds",
            "clients:",
            "  gone:",
            `    base_url: http://${canary("gone-user")}:${canary("gone-password")}@127.0.0.1:${unusedPort}/v1`,
            "    max_retries: 0"
          ])
        )
        const scope = yield* Scope.make()
        const { context, send: get } = yield* served(
          Http.serve(HttpRouter.empty).pipe(
            Layer.provideMerge(loopbackServer),
            Layer.provideMerge(NodeHttpClient.layerUndici),
            Layer.provideMerge(makeGlamLive({ service: "canary-service", root, env: {} }))
          ),
          scope
        )
        yield* Effect.gen(function*() {
          // A handler that refuses the event for good: it is dead-lettered.
          const handled = yield* Deferred.make<void>()
          yield* Bus.subscribe(Events.CatalogEvents.SyncStarted, { durable: "canary-c" }, () =>
            Deferred.succeed(handled, undefined).pipe(
              Effect.zipRight(Effect.fail(new Errors.ValidationError({ message: "sync refused" })))
            ))
          yield* Bus.publish(Events.CatalogEvents.SyncStarted, {
            merchant_id: "7c9e6679-7425-40de-944b-e07fc1f90ae7",
            sync_id: "s-c",
            source: "shopify",
            sync_type: "full"
          })
          yield* Deferred.await(handled)
          const client = yield* Http.ServiceClient.fromConfig("gone")
          const called = yield* Effect.exit(client.get(`/things?api_key=${canary("gone-query")}`))
          if (Exit.isFailure(called)) {
            recordCause("a call to an unreachable upstream", called.cause)
          }
          expect(Exit.isFailure(called)).toBe(true)
          expect((yield* get("/api/v1/ready")).status).toBe(200)
          yield* Effect.promise(() =>
            nats.stop()
          )
          yield* eventually(get("/api/v1/ready"), (answer) =>
            answer.status === 503, "the bus check's failure")
          const published = yield* Effect.exit(Bus.publish(Events.CatalogEvents.SyncStarted, {
            merchant_id: "7c9e6679-7425-40de-944b-e07fc1f90ae7",
            sync_id: "s-c-2",
            source: "shopify",
            sync_type: "full"
          }))
          if (Exit.isFailure(published)) {
            recordCause("a publish while the server is gone", published.cause)
          }
          expect(Exit.isFailure(published)).toBe(true)
          yield* get("/metrics")
        }).pipe(Effect.provide(context))
        yield* Scope.close(scope, Exit.void)
        record("stdout", stdout.text())
        expect(allSeen()).toContain("BUS_")
        expect(leaks()).toEqual([])
      }),
    { timeout: 120_000 }
  )
})
