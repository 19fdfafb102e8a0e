/**
 * The typed configuration sections of the HTTP module, read only through Effect `Config`.
 *
 * Keys (all under the service's configuration tree):
 *
 * - `service.name` — the `X-Service-Name` header and the `service` metric label
 * - `http.port` (8000), `http.host` ("0.0.0.0"), `http.cors_origins` ([]; origins), `http.cors_allow_headers`
 *   (["*"]), `http.cors_max_age_seconds` (600), `http.body_limit_bytes` (1 MiB, at
 *   least 1), `http.max_body_depth` (64), `http.request_timeout_ms` (30000, milliseconds, 1 to 2^31 - 1),
 *   `http.trusted_proxies` ([]; addresses and CIDR ranges), `http.headers_timeout_ms` (10000),
 *   `http.keep_alive_timeout_ms` (65000), `http.max_connections` (10000), `http.max_requests_per_socket` (0, none),
 *   `http.receive_timeout_ms` (300000; 0, none), `http.validation_status` (422; 400 or 422),
 *   `http.record_path` ("raw" | "template"), `http.security_events` (true: Warning; false; a level name)
 * - `auth.algorithms` (["HS256"]), `auth.secret` (Redacted), `auth.public_key` (PEM), `auth.jwks_url`,
 *   `auth.issuer`, `auth.audience`, `auth.clock_tolerance_seconds` (5, finite, at least 0),
 *   `auth.allow_short_secret` (false), `auth.allow_http_jwks_url` (false), `auth.jwks_max_stale` ("12 hours")
 * - `redis.url` (optional: rate limiting uses Redis when set)
 * - `rate_limit.enabled` (true), `rate_limit.limit` (100), `rate_limit.window_ms` (60000),
 *   `rate_limit.algorithm` ("fixed-window" | "token-bucket"), `rate_limit.store_timeout_ms` (1000)
 * - `clients.<name>.base_url`, `.timeout_ms` (10000), `.max_retries` (3), `.retry_base_delay_ms` (100),
 *   `.breaker_failure_threshold` (5), `.breaker_reset_timeout_ms` (30000), `.breaker_half_open_max_calls` (1),
 *   `.deadline_ms` (none), `.record_path` ("raw" | "template")
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import { duration } from "../Config/internal/duration.js"
import * as TelemetryConfig from "../Telemetry/TelemetryConfig.js"
import * as Bounds from "./internal/bounds.js"
import * as ClientDefaults from "./internal/clientDefaults.js"
import * as Cors from "./internal/cors.js"
import * as JwksFetch from "./internal/jwksFetch.js"
import * as TrustedProxies from "./internal/trustedProxies.js"

/**
 * The service name (`service.name`).
 *
 * @since 0.1.0
 * @category config
 */
export const serviceName: Config.Config<string> = Config.nested(Config.string("name"), "service")

/** An integer key within `bound`. */
const bounded = (name: string, bound: Bounds.Bound): Config.Config<number> =>
  Config.integer(name).pipe(Config.validate(bound))

/** An integer key of at least `min`. */
const atLeast = (name: string, min: number): Config.Config<number> => bounded(name, Bounds.atLeast(min))

/**
 * The server section (`http.*`).
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerConfig {
  readonly port: number
  readonly host: string
  /**
   * The origins browsers may call the service from (CORS), as a browser writes its `Origin`
   * (`https://app.example`, `https://app.example:8443`), or `*` for every origin; none when empty. An entry no
   * browser would send (a trailing `/`, a path, an upper case host, a default port) is a `ConfigError` naming it.
   */
  readonly corsOrigins: ReadonlyArray<string>
  /**
   * `http.cors_allow_headers`, default `["*"]`: the request headers a preflight allows. `*` allows the headers the
   * preflight asks for; a list allows those names and the CORS-safelisted ones (`Accept`, `Accept-Language`,
   * `Content-Language`, `Content-Type`), and a preflight asking for another is answered 400 `Disallowed CORS
   * headers` (Starlette's `allow_headers`). An entry that is not a header name is a `ConfigError` naming it. Left
   * out, `["*"]`.
   *
   * @since 0.2.0
   */
  readonly corsAllowHeaders?: ReadonlyArray<string> | undefined
  /**
   * `http.cors_max_age_seconds`, default 600 (Starlette's): the `Access-Control-Max-Age` of a preflight's answer,
   * how long a browser may reuse it; at least 0. Left out, 600.
   *
   * @since 0.2.0
   */
  readonly corsMaxAgeSeconds?: number | undefined
  readonly bodyLimitBytes: number
  /** The deepest nesting of arrays and objects a JSON request body may have (the top-level value is 1). */
  readonly maxBodyDepth: number
  readonly requestTimeoutMs: number
  /**
   * The proxies in front of the service, each an IPv4 or IPv6 address or a CIDR range (`10.0.0.0/8`, `fd00::/8`):
   * the client is the rightmost `X-Forwarded-For` entry not among them (`RequestContext.clientIp`), when the peer
   * is. An entry that is neither is a `ConfigError` naming it (`RequestContext.makeTrustedProxies`); an empty value
   * is no proxies.
   */
  readonly trustedProxies: ReadonlyArray<string>
  /**
   * `http.headers_timeout_ms`, default 10000: how long a client may take to send a request's headers, from their
   * first byte (Node's `headersTimeout`, 60 s on its own); a client still sending them then is answered 408 and cut,
   * however slowly it keeps writing. 1 to 2^31 - 1. `Http.layerServer` reads it; `ServeOptions.server` does not
   * change it. Left out, 10000.
   *
   * @since 0.2.0
   */
  readonly headersTimeoutMs?: number | undefined
  /**
   * `http.keep_alive_timeout_ms`, default 65000: how long an idle keep-alive connection is kept open (Node's
   * `keepAliveTimeout`, 5 s on its own). Above the idle timeout of the load balancer in front (60 s for AWS ALB and
   * nginx's `keepalive_timeout`), so that the service never closes a connection the balancer is about to reuse (a
   * 502 for its request). 1 to 2^31 - 1. `Http.layerServer` reads it; `ServeOptions.server` does not change it.
   * Left out, 65000.
   *
   * @since 0.2.0
   */
  readonly keepAliveTimeoutMs?: number | undefined
  /**
   * `http.max_connections`, default 10000: the most connections the server holds open at once; a connection over it
   * is closed as soon as it is accepted (Node's `maxConnections`, no limit on its own). At least 1.
   * `Http.layerServer` reads it; `ServeOptions.server` does not change it. Left out, 10000.
   *
   * @since 0.2.0
   */
  readonly maxConnections?: number | undefined
  /**
   * `http.max_requests_per_socket`, default 0 (no limit): the most requests served on one connection; the last one's
   * answer says `Connection: close`, so that clients reconnect (and a balancer spreads them again).
   * `Http.layerServer` reads it; `ServeOptions.server` does not change it. Left out, 0.
   *
   * @since 0.2.0
   */
  readonly maxRequestsPerSocket?: number | undefined
  /**
   * `http.receive_timeout_ms`, default 300000 (Node's): how long a client may take to send a whole request, headers
   * and body, from its first byte (Node's `requestTimeout`); a client still sending then is answered 408 and cut,
   * however slowly it keeps writing: a slow body holds a connection that long at most. 0 is none; else 1 to
   * 2^31 - 1, and at least `http.headers_timeout_ms` (Node refuses less). Not `http.request_timeout_ms`, the time
   * the app may take to answer (504). `Http.layerServer` reads it; `ServeOptions.server` does not change it. Left
   * out, 300000.
   *
   * @since 0.2.0
   */
  readonly receiveTimeoutMs?: number | undefined
  /**
   * `http.validation_status`, default 422 (FastAPI's, the Python package's): the status of every `VALIDATION_ERROR`
   * answer, a handler's `ValidationError` and the request decoding failures (body, query, path, headers) alike; 400
   * for a fleet whose `ValidationError` is a 400 (the energy fleet's). Only 400 or 422; another value is a
   * `ConfigError` naming the key. Left out, 422.
   *
   * @since 0.2.0
   */
  readonly validationStatus?: 400 | 422 | undefined
  /**
   * `http.record_path`, default `"raw"`: what the access log's `path` and the server span's `url.path` and
   * `url.full` hold. `"raw"` the request's path as sent (and the span its query, secret-looking values hidden);
   * `"template"` the matched route template (`/patients/:id`), a framework route's path, or `unmatched` for a
   * request no route matched, and no query: for services whose paths carry ids that must not reach logs or traces
   * (a patient's). Under `"template"` the span shows the values of the `referer`, `location` and `content-location`
   * headers as `<redacted>` too.
   *
   * @since 0.2.0
   */
  readonly recordPath?: "raw" | "template" | undefined
  /**
   * `http.security_events`, default `true`: the level of the security events of refused requests
   * (`Http.SecurityEvents`): `true` is Warning, `false` (or `none`, `off`) reports none, neither event nor count; a
   * level name (`debug`, `info`, `warning`, `error`) sets the level. Left out, Warning.
   *
   * @since 0.2.0
   */
  readonly securityEvents?: LogLevel.LogLevel | undefined
}

/**
 * The defaults of the connection settings of `http.*`.
 *
 * @since 0.2.0
 * @category constants
 */
export const serverDefaults: {
  readonly headersTimeoutMs: number
  readonly keepAliveTimeoutMs: number
  readonly maxConnections: number
  readonly maxRequestsPerSocket: number
  /** @since 0.2.0 */
  readonly receiveTimeoutMs: number
  /** @since 0.2.0 */
  readonly validationStatus: 400 | 422
} = {
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 65_000,
  maxConnections: 10_000,
  maxRequestsPerSocket: 0,
  receiveTimeoutMs: 300_000,
  validationStatus: 422
}

// `true` and `false` as `Config.boolean` reads them, else a level name.
const securityEventsLevel = (value: string): Either.Either<LogLevel.LogLevel, ConfigError.ConfigError> => {
  const text = value.trim().toLowerCase()
  if (["true", "yes", "on", "1"].includes(text)) return Either.right(LogLevel.Warning)
  if (["false", "no", "0"].includes(text)) return Either.right(LogLevel.None)
  return Option.match(TelemetryConfig.parseLogLevel(text), {
    onNone: () =>
      Either.left(
        ConfigError.InvalidData(
          ["security_events"],
          `Expected true, false or a log level (DEBUG, INFO, WARNING, ERROR) but got ${JSON.stringify(value)}`
        )
      ),
    onSome: Either.right
  })
}

const securityEventsOf: Config.Config<LogLevel.LogLevel> = Config.withDefault(
  Config.string("security_events").pipe(Config.mapOrFail(securityEventsLevel)),
  LogLevel.Warning
)

/**
 * `http.security_events` alone (Warning when left out; `LogLevel.None` for `false`): the level of the security
 * events of those outside the serve stack that report them, `JwtAuth.layerConfig` and `Http.layerNodeServer`.
 *
 * @since 0.2.0
 * @category config
 */
export const securityEvents: Config.Config<LogLevel.LogLevel> = Config.nested(securityEventsOf, "http")

/**
 * Reads the server section (`http.*`) with its defaults.
 *
 * @since 0.1.0
 * @category config
 */
export const server: Config.Config<ServerConfig> = Config.nested(
  Config.all({
    port: Config.withDefault(Config.port("port"), 8000),
    host: Config.withDefault(Config.string("host"), "0.0.0.0"),
    corsOrigins: Config.withDefault(
      Config.array(Config.string(), "cors_origins").pipe(
        // An empty value (`HTTP_CORS_ORIGINS=`) is no origins, as for `trusted_proxies`.
        Config.map((entries) => entries.every((entry) => entry.trim() === "") ? [] : entries),
        Config.mapOrFail((entries) => {
          const problem = Cors.check(entries)
          return problem === undefined ? Either.right(entries) : Either.left(
            ConfigError.InvalidData(["cors_origins"], problem)
          )
        })
      ),
      []
    ),
    corsAllowHeaders: Config.withDefault(
      Config.array(Config.string(), "cors_allow_headers").pipe(
        Config.map((entries) => entries.map((entry) => entry.trim()).filter((entry) => entry !== "")),
        Config.mapOrFail((entries) => {
          const problem = Cors.checkAllowHeaders(entries)
          return problem === undefined ? Either.right(entries) : Either.left(
            ConfigError.InvalidData(["cors_allow_headers"], problem)
          )
        })
      ),
      Cors.defaults.allowHeaders
    ),
    corsMaxAgeSeconds: Config.withDefault(
      bounded("cors_max_age_seconds", Bounds.server.corsMaxAgeSeconds[1]),
      Cors.defaults.maxAgeSeconds
    ),
    bodyLimitBytes: Config.withDefault(bounded("body_limit_bytes", Bounds.server.bodyLimitBytes[1]), 1024 * 1024),
    maxBodyDepth: Config.withDefault(bounded("max_body_depth", Bounds.server.maxBodyDepth[1]), 64),
    requestTimeoutMs: Config.withDefault(bounded("request_timeout_ms", Bounds.server.requestTimeoutMs[1]), 30_000),
    headersTimeoutMs: Config.withDefault(
      bounded("headers_timeout_ms", Bounds.server.headersTimeoutMs[1]),
      serverDefaults.headersTimeoutMs
    ),
    keepAliveTimeoutMs: Config.withDefault(
      bounded("keep_alive_timeout_ms", Bounds.server.keepAliveTimeoutMs[1]),
      serverDefaults.keepAliveTimeoutMs
    ),
    maxConnections: Config.withDefault(
      bounded("max_connections", Bounds.server.maxConnections[1]),
      serverDefaults.maxConnections
    ),
    maxRequestsPerSocket: Config.withDefault(
      bounded("max_requests_per_socket", Bounds.server.maxRequestsPerSocket[1]),
      serverDefaults.maxRequestsPerSocket
    ),
    receiveTimeoutMs: Config.withDefault(
      bounded("receive_timeout_ms", Bounds.server.receiveTimeoutMs[1]),
      serverDefaults.receiveTimeoutMs
    ),
    validationStatus: Config.withDefault(
      bounded("validation_status", Bounds.server.validationStatus[1]).pipe(
        Config.map((status): 400 | 422 => status === 400 ? 400 : 422)
      ),
      serverDefaults.validationStatus
    ),
    recordPath: Config.withDefault(Config.literal("raw", "template")("record_path"), "raw" as const),
    securityEvents: securityEventsOf,
    trustedProxies: Config.withDefault(
      Config.array(Config.string(), "trusted_proxies").pipe(
        // An empty value (`HTTP_TRUSTED_PROXIES=`) is no proxies, as an empty `redis.url` is no Redis.
        Config.map((entries) => entries.every((entry) => entry.trim() === "") ? [] : entries),
        Config.mapOrFail((entries) =>
          Either.mapBoth(TrustedProxies.make(entries), {
            onLeft: (problem) => ConfigError.InvalidData(["trusted_proxies"], problem),
            onRight: () => entries
          })
        )
      ),
      []
    )
  }).pipe(
    // Node's server refuses a request timeout below its headers timeout.
    Config.mapOrFail((config) =>
      config.receiveTimeoutMs !== 0 && config.receiveTimeoutMs < config.headersTimeoutMs
        ? Either.left(ConfigError.InvalidData(
          ["receive_timeout_ms"],
          `Expected 0 (none) or at least http.headers_timeout_ms (${config.headersTimeoutMs}), got ` +
            String(config.receiveTimeoutMs)
        ))
        : Either.right(config)
    )
  ),
  "http"
)

/**
 * The JWT section (`auth.*`). Exactly one key source is used: `jwks_url`, else `public_key`, else `secret`.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuthConfig {
  readonly algorithms: ReadonlyArray<string>
  readonly secret: Option.Option<Redacted.Redacted>
  readonly publicKey: Option.Option<string>
  readonly jwksUrl: Option.Option<string>
  readonly issuer: Option.Option<string>
  readonly audience: Option.Option<string>
  readonly clockToleranceSeconds: number
  /**
   * `auth.allow_short_secret`, default `false`: an `auth.secret` shorter than its HMAC algorithm's hash output
   * (RFC 7518 section 3.2: 32 bytes for HS256) is accepted with a warning instead of failing startup, for a service
   * joining a fleet that still shares such a secret until it is rotated. Left out, `false`.
   *
   * @since 0.2.0
   */
  readonly allowShortSecret?: boolean | undefined
  /**
   * `auth.allow_http_jwks_url`, default `false`: a plain `http:` `auth.jwks_url` to a host that is not loopback is
   * accepted (with a warning at startup), for a key set served inside a service mesh whose sidecars encrypt and
   * authenticate the traffic. Left out, `false`: such a URL fails startup, since whoever sits on a plain path could
   * serve their own keys.
   *
   * @since 0.2.0
   */
  readonly allowHttpJwksUrl?: boolean | undefined
  /**
   * `auth.jwks_max_stale`, default 12 hours: when the key set at `auth.jwks_url` cannot be fetched again, how long
   * after the last successful fetch its keys keep verifying (stale-if-error). Past it they stop verifying and
   * tokens are refused with 503 `SERVICE_UNAVAILABLE` until the set is fetched again: an endpoint down for weeks does
   * not keep keys the identity provider has withdrawn. More than zero. Left out, 12 hours.
   *
   * @since 0.2.0
   */
  readonly jwksMaxStale?: Duration.Duration | undefined
}

/**
 * Reads the JWT section (`auth.*`).
 *
 * @since 0.1.0
 * @category config
 */
export const auth: Config.Config<AuthConfig> = Config.nested(
  Config.all({
    algorithms: Config.withDefault(Config.array(Config.string(), "algorithms"), ["HS256"]),
    secret: Config.option(Config.redacted("secret")),
    publicKey: Config.option(Config.string("public_key")),
    jwksUrl: Config.option(Config.string("jwks_url")),
    issuer: Config.option(Config.string("issuer")),
    audience: Config.option(Config.string("audience")),
    allowShortSecret: Config.withDefault(Config.boolean("allow_short_secret"), false),
    allowHttpJwksUrl: Config.withDefault(Config.boolean("allow_http_jwks_url"), false),
    jwksMaxStale: Config.withDefault(duration("jwks_max_stale"), Duration.millis(JwksFetch.defaultMaxStaleMs)),
    // Below zero, a token is refused from the moment it is issued (its `iat` is later than now plus the negative
    // tolerance); infinite, an expired one is accepted for ever.
    clockToleranceSeconds: Config.withDefault(
      Config.number("clock_tolerance_seconds").pipe(
        Config.validate({
          message: "Expected a finite number of seconds, at least 0",
          validation: (n) => Number.isFinite(n) && n >= 0
        })
      ),
      5
    )
  }),
  "auth"
)

/**
 * The rate limit section (`rate_limit.*`) plus `redis.url`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RateLimitConfig {
  readonly enabled: boolean
  readonly limit: number
  readonly windowMs: number
  readonly algorithm: "fixed-window" | "token-bucket"
  /** How long a call to the Redis store may take before the request is let through (a store failure). */
  readonly storeTimeoutMs: number
  readonly redisUrl: Option.Option<string>
}

/**
 * Reads the rate limit section (`rate_limit.*`) and `redis.url`.
 *
 * @since 0.1.0
 * @category config
 */
export const rateLimit: Config.Config<RateLimitConfig> = Config.all({
  enabled: Config.withDefault(Config.boolean("enabled"), true).pipe(Config.nested("rate_limit")),
  limit: Config.withDefault(bounded("limit", Bounds.rateLimit.limit[1]), 100).pipe(Config.nested("rate_limit")),
  windowMs: Config.withDefault(bounded("window_ms", Bounds.rateLimit.windowMs[1]), 60_000).pipe(
    Config.nested("rate_limit")
  ),
  algorithm: Config.withDefault(Config.literal("fixed-window", "token-bucket")("algorithm"), "fixed-window").pipe(
    Config.nested("rate_limit")
  ),
  storeTimeoutMs: Config.withDefault(
    atLeast("store_timeout_ms", 1),
    1000
  ).pipe(Config.nested("rate_limit")),
  // Empty is not set, as for the cache: an empty REDIS_URL means the memory store, never a client on defaults.
  redisUrl: Config.option(Config.nonEmptyString("url")).pipe(Config.nested("redis"))
})

/**
 * The settings of one outgoing client (`clients.<name>.*`).
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientConfig {
  readonly name: string
  readonly baseUrl: string
  readonly timeoutMs: number
  readonly maxRetries: number
  readonly retryBaseDelayMs: number
  readonly breakerFailureThreshold: number
  readonly breakerResetTimeoutMs: number
  readonly breakerHalfOpenMaxCalls: number
  /**
   * The largest response body read, in bytes ({@link defaultMaxResponseBytes} when absent): a longer answer is an
   * `UpstreamServiceError`, and the rest of it is not read.
   */
  readonly maxResponseBytes?: number | undefined
  /**
   * `clients.<name>.deadline_ms`, none by default: the budget of a whole call, in milliseconds, retries and their
   * waits included (`timeout_ms` bounds one attempt). Once spent the call fails with `RequestTimeoutError` saying the
   * deadline; a retry whose wait would end past it is not started, and the attempt in flight is cut there. 1 to
   * 2^31 - 1. `RequestOptions.deadline` replaces it for one call. Left out, no whole-call deadline: a call takes up
   * to `max_retries + 1` times `timeout_ms` plus the waits between attempts.
   *
   * @since 0.2.0
   */
  readonly deadlineMs?: number | undefined
  /**
   * `clients.<name>.record_path`, default `"raw"`: what the client's spans and errors hold of a call's target.
   * `"raw"` the path as sent (secret-looking query values hidden); `"template"` the call's `RequestOptions.route`
   * (`/patients/:id`), or `unrouted` for a call without one, never the path or its query: the spans' `path`,
   * `url.full` (the base URL's origin with the template), `url.path`, no `url.query`, the `referer`, `location` and
   * `content-location` headers `<redacted>`; the errors' `endpoint`; and the call's path segments and query values
   * hidden in the texts of the upstream's and the platform's errors (those under 3 characters where they stand as a
   * token). For clients whose paths carry ids that must not reach logs or traces (a patient's), as `http.record_path`
   * for a server.
   *
   * @since 0.2.0
   */
  readonly recordPath?: "raw" | "template" | undefined
}

/**
 * The largest response body a service client reads when its settings name none (`clients.<name>.max_response_bytes`).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxResponseBytes: number = ClientDefaults.defaultMaxResponseBytes

/**
 * Reads the settings of the client named `name` (`clients.<name>.*`). A `base_url` that is not an absolute
 * `http://` or `https://` URL is a `ConfigError` that does not quote it (it may hold a password); so is a
 * `timeout_ms`, `breaker_failure_threshold`, `breaker_reset_timeout_ms` or `breaker_half_open_max_calls` below 1,
 * a `max_retries` or `retry_base_delay_ms` below 0, a `deadline_ms` outside 1 to 2^31 - 1, and a `record_path` other
 * than `raw` or `template`.
 *
 * @since 0.1.0
 * @category config
 */
export const client = (name: string): Config.Config<ClientConfig> =>
  Config.all({
    name: Config.succeed(name),
    baseUrl: Config.string("base_url").pipe(
      Config.validate({ message: ClientDefaults.invalidBaseUrl, validation: ClientDefaults.isHttpUrl })
    ),
    // A timeout of 0 fails every call; a breaker that admits no trial (0) or opens before a failure stays open.
    timeoutMs: Config.withDefault(atLeast("timeout_ms", 1), 10_000),
    maxRetries: Config.withDefault(atLeast("max_retries", 0), 3),
    retryBaseDelayMs: Config.withDefault(atLeast("retry_base_delay_ms", 0), 100),
    breakerFailureThreshold: Config.withDefault(atLeast("breaker_failure_threshold", 1), 5),
    breakerResetTimeoutMs: Config.withDefault(atLeast("breaker_reset_timeout_ms", 1), 30_000),
    breakerHalfOpenMaxCalls: Config.withDefault(atLeast("breaker_half_open_max_calls", 1), 1),
    maxResponseBytes: Config.withDefault(
      atLeast("max_response_bytes", 1),
      defaultMaxResponseBytes
    ),
    deadlineMs: Config.option(bounded("deadline_ms", Bounds.timerMs)).pipe(Config.map(Option.getOrUndefined)),
    recordPath: Config.withDefault(Config.literal("raw", "template")("record_path"), "raw" as const)
  }).pipe(Config.nested(name), Config.nested("clients"))
