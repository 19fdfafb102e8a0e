/**
 * JWT bearer authentication on `jose`: algorithms pinned from configuration, an HS secret, a public key or a
 * JWKS URL, issuer and audience checked when configured, `exp` required, a clock tolerance; a refresh token
 * (`type: "refresh"`, see `JwtIssuer`) is not a bearer credential. Every refusal
 * (`alg: none`, another algorithm, a bad signature, expired, no `exp`, wrong `iss`/`aud`, an `aud` when no
 * `auth.audience` is set, a registered claim of another type than RFC 7519's (`iat`/`nbf`/`exp` finite numbers,
 * `iss`/`sub`/`jti` strings, `aud` a string or a list of strings), no subject, malformed) is a 401
 * `UNAUTHORIZED` that says nothing about why beyond "expired" or "invalid". A key set at `auth.jwks_url` that cannot
 * be fetched or read is a 503 `SERVICE_UNAVAILABLE`: it says nothing of the token. When a refresh of the set fails,
 * the keys fetched last keep verifying, for up to `auth.jwks_max_stale` (12 hours) after the last successful fetch.
 * `exp`, `nbf` and `iat` are checked at the time of Effect's `Clock` in the verifying fiber (a `TestClock`, a
 * service's own `Clock`), not at jose's reading of `Date`.
 *
 * The authenticated {@link Principal} is in the FiberRef {@link currentPrincipal} for the rest of the request
 * (the Bus reads it to put the principal into published events' metadata) and, for `HttpApi` handlers, in the
 * {@link CurrentPrincipal} service.
 *
 * @since 0.1.0
 */
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { globalValue } from "effect/GlobalValue"
import * as Layer from "effect/Layer"
import type * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as jose from "jose"
import { ServiceUnavailableError, UnauthorizedError } from "../Errors/CommonErrors.js"
import * as ConfiguredSecrets from "../internal/configuredSecrets.js"
import * as HttpConfig from "./HttpConfig.js"
import { ApiError } from "./HttpErrors.js"
import * as JwksFetch from "./internal/jwksFetch.js"
import * as JwtKeys from "./internal/jwtKeys.js"
import * as SecurityEvents from "./internal/securityEvents.js"

/**
 * Who made the request: the token's `sub` (else the seed's `user_id`, a non-empty string either way), its roles
 * (`roles` array or `role` string), permissions (`permissions` array or space-separated `scope`), merchant
 * (`merchant_id`) and all verified claims.
 *
 * @since 0.1.0
 * @category models
 */
export interface Principal {
  readonly subject: string
  readonly roles: ReadonlyArray<string>
  readonly permissions: ReadonlyArray<string>
  readonly merchantId: string | undefined
  readonly claims: Readonly<Record<string, unknown>>
}

/**
 * The principal of the current request (`Option.none()` when unauthenticated). Child fibers inherit it.
 *
 * @since 0.1.0
 * @category fiber refs
 */
export const currentPrincipal: FiberRef.FiberRef<Option.Option<Principal>> = globalValue(
  "@glam/shared/Http/JwtAuth/currentPrincipal",
  () => FiberRef.unsafeMake<Option.Option<Principal>>(Option.none())
)

/**
 * The principal as a service, provided to `HttpApi` handlers behind {@link Authentication}.
 *
 * @since 0.1.0
 * @category tags
 */
export class CurrentPrincipal
  extends Context.Tag("@glam/shared/Http/CurrentPrincipal")<CurrentPrincipal, Principal>()
{}

/**
 * The entries an event's `metadata` gets for the current principal (empty when there is none):
 * `principal_subject` and, when known, `principal_merchant_id`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const principalMetadata: Effect.Effect<Record<string, string>> = Effect.map(
  FiberRef.get(currentPrincipal),
  Option.match({
    onNone: () => ({}),
    onSome: (p) =>
      p.merchantId === undefined
        ? { principal_subject: p.subject }
        : { principal_subject: p.subject, principal_merchant_id: p.merchantId }
  })
)

const strings = (u: unknown): ReadonlyArray<string> =>
  Array.isArray(u) ? u.filter((x): x is string => typeof x === "string") : []

// The subject a token names: its `sub` when it has one, else the seed's `user_id` (what `JwtIssuer` writes as
// both); a non-empty string, else none.
const subjectOf: (claims: jose.JWTPayload) => string | undefined = SecurityEvents.subjectOf

/**
 * The principal of a verified payload. A payload without a subject (see {@link Principal}) gives the subject `""`:
 * the verifier of {@link make} refuses such a token before it has a principal.
 *
 * @since 0.1.0
 * @category constructors
 */
export const principalFromClaims = (claims: jose.JWTPayload): Principal => {
  const roles = strings(claims["roles"])
  const role = claims["role"]
  const permissions = strings(claims["permissions"])
  const scope = claims["scope"]
  const merchant = claims["merchant_id"]
  return {
    subject: subjectOf(claims) ?? "",
    roles: roles.length > 0 ? roles : typeof role === "string" ? [role] : [],
    permissions: permissions.length > 0 ? permissions : typeof scope === "string" ? scope.split(" ") : [],
    merchantId: typeof merchant === "string" ? merchant : undefined,
    claims
  }
}

/**
 * Verifies bearer tokens.
 *
 * @since 0.1.0
 * @category models
 */
export interface JwtVerifierService {
  /**
   * The token's principal; `UnauthorizedError` for a token that is not valid, `ServiceUnavailableError` when the
   * key set at `auth.jwks_url` cannot be fetched (no answer, an error status, not a key set, over 1 MiB) and no
   * keys fetched within `auth.jwks_max_stale` are kept: that says nothing of the token. Each refusal is a security
   * event (see {@link make}), also where no stack of `RequestTelemetry.middleware` runs.
   */
  readonly verify: (token: string) => Effect.Effect<Principal, UnauthorizedError | ServiceUnavailableError>
}

/**
 * The verifier service.
 *
 * @since 0.1.0
 * @category tags
 */
export class JwtVerifier extends Context.Tag("@glam/shared/Http/JwtVerifier")<JwtVerifier, JwtVerifierService>() {}

const unauthorized = (message: string) => new UnauthorizedError({ message, details: { auth_type: "bearer" } })

/** `iat` later than `nowMs` plus the tolerance (jose has checked that an `iat` is a number). */
const issuedInFuture = (
  payload: { readonly iat?: number | undefined },
  toleranceSeconds: number,
  nowMs: number
): boolean => payload.iat !== undefined && payload.iat > nowMs / 1000 + toleranceSeconds

/**
 * A token naming an audience (a non-empty `aud`) when the verifier has none configured: it is meant for some other
 * service, and PyJWT refuses it the same way ("Invalid audience").
 */
const namesAudience = (payload: jose.JWTPayload): boolean =>
  Boolean(payload.aud) && !(Array.isArray(payload.aud) && payload.aud.length === 0)

const numericClaims = ["iat", "nbf", "exp"] as const
const stringClaims = ["iss", "sub", "jti"] as const

/**
 * The registered claims a token holds have the types RFC 7519 gives them and PyJWT checks: `iat`, `nbf` and `exp`
 * finite numbers (a JSON `1e400` reads as `Infinity`: an `exp` that never passes), `iss`, `sub` and `jti` strings,
 * `aud` a string or a list of strings (PyJWT: "Invalid claim format in token"), whichever of them is present.
 */
const registeredClaimsTyped = (payload: jose.JWTPayload): boolean =>
  numericClaims.every((name) => {
    const value = payload[name]
    return value === undefined || (typeof value === "number" && Number.isFinite(value))
  }) &&
  stringClaims.every((name) => payload[name] === undefined || typeof payload[name] === "string") &&
  (payload.aud === undefined || typeof payload.aud === "string" ||
    (Array.isArray(payload.aud) && payload.aud.every((entry) => typeof entry === "string")))

/**
 * A URL's host that names this machine: `localhost`, an address of 127.0.0.0/8 or `[::1]` (the URL parser writes
 * every spelling of them so). Plain `http:` reaches a key set there only (a test, a sidecar): anywhere else, whoever
 * sits on the path could serve their own keys and sign every token.
 */
const isLoopback = (hostname: string): boolean =>
  hostname === "localhost" || hostname === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)

const keySetUnavailable = () =>
  new ServiceUnavailableError({ message: "The keys to verify the token are unavailable", details: { service: "jwks" } })

/**
 * Where the verifier reports the tokens it refuses outside a request the stack of `Http.serve` reports (a Bus
 * handler, a handler of another server, a WebSocket): the `service` of its events (`unknown` when left
 * out) and their level (`http.security_events`: Warning when left out, `LogLevel.None` for none). {@link layerConfig}
 * and {@link layer} read both from configuration (`service.name`, `http.security_events`).
 *
 * @since 0.2.0
 * @category models
 */
export interface EventsOptions {
  readonly service?: string | undefined
  readonly level?: LogLevel.LogLevel | undefined
}

/**
 * Builds a verifier from the `auth` section (key source: `jwks_url`, else `public_key`, else `secret`). A `secret`
 * shorter than the hash output of a pinned HMAC algorithm (32 bytes for HS256, 48 for HS384, 64 for HS512: RFC 7518,
 * section 3.2) is a `ConfigError` at `auth.secret` that names the algorithm, never the secret (a warning instead with
 * `auth.allow_short_secret`, for a fleet that still shares such a secret). The algorithms are
 * names of RFC 7518 (case-sensitive) the key source verifies: HS* with a `secret`, RS/PS/ES/EdDSA/Ed25519 with a
 * `public_key` (imported for each of them) or a `jwks_url`; else a `ConfigError` at `auth.algorithms`. A `jwks_url`
 * that is neither an `https:` URL nor an `http:` one to a loopback host (`localhost`, 127.0.0.0/8, `[::1]`; another
 * host with `auth.allow_http_jwks_url`, for a mesh whose sidecars secure the path), or that holds credentials
 * (`user:password@`, which `fetch` never sends), is a `ConfigError` at `auth.jwks_url` that does not quote it.
 *
 * A token it refuses is a security event (`Http.SecurityEvents`, `auth.failed` or `auth.unavailable`, with the
 * subject of a token whose signature was verified, never the token): recorded for the request when a stack of
 * `RequestTelemetry.middleware` (that of `Http.serve`, or one of the app's own) reports the refusals of the request
 * (its app running, the request asking for no upgrade), else counted and handed to the `SecurityEvents` service of the
 * caller's context at once, with `source: "verifier"` and `events`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  config: HttpConfig.AuthConfig,
  events: EventsOptions = {}
): Effect.Effect<JwtVerifierService, ConfigError.ConfigError> =>
  Effect.gen(function*() {
    const emitter: SecurityEvents.Emitter = {
      service: events.service ?? SecurityEvents.defaultEmitter.service,
      level: events.level ?? SecurityEvents.defaultEmitter.level
    }
    const source = Option.isSome(config.jwksUrl)
      ? "jwks_url"
      : Option.isSome(config.publicKey)
      ? "public_key"
      : Option.isSome(config.secret)
      ? "secret"
      : undefined
    if (source === undefined) {
      return yield* Effect.fail(ConfigError.MissingData(["auth", "secret"], "set auth.secret, public_key or jwks_url"))
    }
    const unverifiable = JwtKeys.algorithmsError(config.algorithms, source)
    if (unverifiable !== undefined) return yield* Effect.fail(unverifiable)
    // Imported when a verifier is built: a service without authentication does not load jose.
    const jose = yield* Effect.promise(() => import("jose"))
    // The key for a token, given the verifying fiber's `Clock` (on which a `jwks_url`'s set is aged).
    let keyAt: (clock: Clock.Clock) => jose.JWTVerifyGetKey | jose.CryptoKey | Uint8Array
    // The JWKS warnings given while verifying, logged by the verification's fiber; no step for the other sources.
    let logWarnings: Effect.Effect<void> | undefined
    if (Option.isSome(config.jwksUrl)) {
      // Neither message quotes the URL: it may hold a password.
      const url = URL.canParse(config.jwksUrl.value) ? new URL(config.jwksUrl.value) : undefined
      if (url === undefined) {
        return yield* Effect.fail(ConfigError.InvalidData(["auth", "jwks_url"], "not a URL"))
      }
      if (url.protocol !== "https:" && url.protocol !== "http:") {
        return yield* Effect.fail(ConfigError.InvalidData(["auth", "jwks_url"], "not an http: or https: URL"))
      }
      if (url.protocol === "http:" && !isLoopback(url.hostname)) {
        if (config.allowHttpJwksUrl !== true) {
          return yield* Effect.fail(
            ConfigError.InvalidData(
              ["auth", "jwks_url"],
              "an http: URL to a host that is not loopback (localhost, 127.0.0.0/8, [::1]): use https:, or set " +
                "auth.allow_http_jwks_url when a service mesh secures the path"
            )
          )
        }
        yield* Effect.logWarning(
          "JwtAuth: auth.jwks_url is a plain http: URL to a host that is not loopback (auth.allow_http_jwks_url): " +
            "the key set is only as safe as the path to it"
        )
      }
      if (url.username !== "" || url.password !== "") {
        return yield* Effect.fail(
          ConfigError.InvalidData(["auth", "jwks_url"], "holds credentials (user:password@), which fetch never sends")
        )
      }
      const maxStale = config.jwksMaxStale === undefined ? {} : { maxStaleMs: Duration.toMillis(config.jwksMaxStale) }
      const remote = JwksFetch.verifierKeys(jose, url, { ...JwksFetch.defaultRefresh, ...maxStale })
      keyAt = (clock) => (header, token) => remote.key(header, token, clock)
      logWarnings = remote.logWarnings
    } else if (Option.isSome(config.publicKey)) {
      const pem = config.publicKey.value
      // WebCrypto binds a key to one algorithm: the key is imported for each algorithm pinned (RS256 and PS256 of
      // one RSA key), and a token gets the one of its `alg` (jose has checked that it is pinned).
      const keys = new Map(
        yield* Effect.forEach(config.algorithms, (alg) =>
          Effect.tryPromise({
            try: () => pem.includes("BEGIN CERTIFICATE") ? jose.importX509(pem, alg) : jose.importSPKI(pem, alg),
            catch: () => ConfigError.InvalidData(["auth", "public_key"], "not a PEM public key for " + alg)
          }).pipe(Effect.map((imported) => [alg, imported] as const)))
      )
      const key: jose.JWTVerifyGetKey = (header) => {
        const imported = keys.get(header.alg ?? "")
        if (imported === undefined) throw new jose.errors.JOSEAlgNotAllowed("alg not pinned")
        return imported
      }
      keyAt = () => key
    } else {
      // The source is the secret: it is set.
      const secret = new TextEncoder().encode(Redacted.value(Option.getOrThrow(config.secret)))
      yield* JwtKeys.checkSecret(secret, config.algorithms, config.allowShortSecret)
      keyAt = () => secret
    }
    const options: jose.JWTVerifyOptions = {
      algorithms: [...config.algorithms],
      clockTolerance: config.clockToleranceSeconds,
      requiredClaims: ["exp"],
      ...(Option.isSome(config.issuer) ? { issuer: config.issuer.value } : {}),
      ...(Option.isSome(config.audience) ? { audience: config.audience.value } : {})
    }
    // `exp`, `nbf` and `iat` are read at the time of the fiber's `Clock` (a service's own, a test's `TestClock`), not
    // at the time jose would read from `Date`; so is the age of a `jwks_url`'s key set.
    const verifyWith = (token: string, nowMs: number, clock: Clock.Clock) => {
      const at: jose.JWTVerifyOptions = { ...options, currentDate: new Date(nowMs) }
      const key = keyAt(clock)
      return typeof key === "function" ? jose.jwtVerify(token, key, at) : jose.jwtVerify(token, key, at)
    }
    // The security event of a refused token: its reason, and its subject when its signature was verified.
    const refusing = <E extends UnauthorizedError | ServiceUnavailableError>(
      refusal: SecurityEvents.Refusal,
      error: E
    ): Effect.Effect<never, E> =>
      Effect.zipRight(
        SecurityEvents.refuseOrEmit(refusal, error.status, "verifier", emitter),
        Effect.fail(error)
      )
    const refused = (error: unknown): Effect.Effect<never, UnauthorizedError | ServiceUnavailableError> => {
      if (error instanceof JwksFetch.KeySetUnavailable) {
        return refusing({ event: "auth.unavailable", reason: "key_set_unavailable" }, keySetUnavailable())
      }
      const { reason, subject } = SecurityEvents.joseRefusal(jose.errors, error)
      return refusing(
        { event: "auth.failed", reason, subject },
        unauthorized(error instanceof jose.errors.JWTExpired ? "Token expired" : "Invalid token")
      )
    }
    return {
      verify: (token: string) =>
        Effect.clockWith((clock) => {
          const nowMs = clock.unsafeCurrentTimeMillis()
          return Effect.tryPromise({ try: () => verifyWith(token, nowMs, clock), catch: (error) => error }).pipe(
            Effect.map((result) => ({ payload: result.payload, nowMs }))
          )
        }).pipe(
          Effect.catchAll(refused),
          // A refresh token is for the token endpoint only, never a bearer credential. A `sub` that is not a string
          // (RFC 7519: a StringOrURI; PyJWT refuses it) would leave the principal without the subject the token
          // names; a token naming no subject (no `sub`, no `user_id`, or an empty one) would authenticate nobody
          // in particular, the same `""` for every such token.
          // A token issued after now (past the clock tolerance) is refused, as PyJWT refuses it ("not yet
          // valid"): jose reads `iat` only for a maximum age. Such a token is a clock or signer fault, and honoured
          // it would stay valid longer than its issuer meant.
          // Without `auth.audience`, a token that names an audience is refused, as PyJWT refuses it: a token
          // another service's audience was issued for would otherwise be honoured here.
          Effect.flatMap(({ nowMs, payload }) => {
            const reason: SecurityEvents.Refusal["reason"] | undefined = payload["type"] === "refresh"
              ? "refresh_token"
              : !registeredClaimsTyped(payload)
              ? "claims_invalid"
              : subjectOf(payload) === undefined
              ? "no_subject"
              : issuedInFuture(payload, config.clockToleranceSeconds, nowMs)
              ? "not_yet_valid"
              : Option.isNone(config.audience) && namesAudience(payload)
              ? "wrong_audience"
              : undefined
            if (reason === undefined) return Effect.succeed(principalFromClaims(payload))
            return refusing(
              { event: "auth.failed", reason, subject: subjectOf(payload) },
              unauthorized("Invalid token")
            )
          }),
          (verified) => logWarnings === undefined ? verified : Effect.ensuring(verified, logWarnings),
          Effect.withSpan("JwtAuth.verify")
        )
    }
  })

// The service and level of the verifier's events, from configuration.
const eventsConfig: Config.Config<EventsOptions> = Config.all({
  service: Config.map(Config.option(HttpConfig.serviceName), Option.getOrUndefined),
  level: HttpConfig.securityEvents
})

// The verifier of a layer: its secret hidden in the toolkit's logs and spans while the layer is in use.
const layerOf = (config: Config.Config<HttpConfig.AuthConfig>): Layer.Layer<JwtVerifier, ConfigError.ConfigError> =>
  Layer.scoped(
    JwtVerifier,
    Effect.flatMap(
      config,
      (auth) =>
        ConfiguredSecrets.registerGiven({ secrets: [Option.getOrUndefined(auth.secret)] }).pipe(
          Effect.zipRight(Effect.flatMap(eventsConfig, (events) => make(auth, events)))
        )
    )
  )

/**
 * The verifier from configuration (`auth.*`; `service.name` and `http.security_events` for its events). While the
 * layer is in use, `auth.secret` is hidden in the toolkit's log lines and exported spans.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<JwtVerifier, ConfigError.ConfigError> = layerOf(HttpConfig.auth)

/**
 * The verifier from explicit settings (`service.name` and `http.security_events` from configuration for its
 * events). While the layer is in use, its `secret` is hidden in the toolkit's log lines and exported spans.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  config: Config.Config.Wrap<HttpConfig.AuthConfig>
): Layer.Layer<JwtVerifier, ConfigError.ConfigError> => layerOf(Config.unwrap(config))

// RFC 6750, section 2.1: the scheme (case-insensitive), one or more spaces, the token.
const bearer = (header: string | undefined): Option.Option<string> | "malformed" => {
  if (header === undefined) return Option.none()
  const match = /^Bearer +([^\s]+)$/i.exec(header.trim())
  return match === null ? "malformed" : Option.some(match[1]!)
}

/**
 * The authentication middleware: a request with an `Authorization` header must carry a valid bearer token (else
 * 401); its principal is set in {@link currentPrincipal}. Requests without the header pass unauthenticated; the
 * routes that need a principal use {@link requireAuth}, `Permissions.requireRole`/`requirePermission` or
 * {@link Authentication}.
 *
 * @since 0.1.0
 * @category middleware
 */
export const middleware = (verifier: JwtVerifierService): HttpMiddleware.HttpMiddleware =>
  HttpMiddleware.make((app) =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      const token = bearer(request.headers["authorization"])
      if (token === "malformed") {
        return SecurityEvents.refusing(
          { event: "auth.failed", reason: "header_malformed" },
          unauthorized("Invalid authorization header")
        )
      }
      if (Option.isNone(token)) return app
      return Effect.flatMap(verifier.verify(token.value), (p) => Effect.locally(app, currentPrincipal, Option.some(p)))
    })
  )

const authenticationRequired = Effect.suspend(() =>
  SecurityEvents.refusing({ event: "auth.failed", reason: "token_missing" }, unauthorized("Authentication required"))
)

/**
 * The current principal, or 401 `UNAUTHORIZED` when the request is not authenticated.
 *
 * @since 0.1.0
 * @category accessors
 */
export const requireAuth: Effect.Effect<Principal, UnauthorizedError> = Effect.flatMap(
  FiberRef.get(currentPrincipal),
  Option.match({ onNone: () => authenticationRequired, onSome: Effect.succeed })
)

/**
 * `HttpApi` security: bearer JWT (the OpenAPI document shows the scheme and the 401). Handlers get
 * {@link CurrentPrincipal}.
 *
 * @example
 * ```ts
 * import { HttpApiGroup } from "@effect/platform"
 * import { Http } from "@glam/shared"
 *
 * HttpApiGroup.make("items").middleware(Http.JwtAuth.Authentication)
 * ```
 *
 * @since 0.1.0
 * @category HttpApi
 */
export class Authentication extends HttpApiMiddleware.Tag<Authentication>()("@glam/shared/Http/Authentication", {
  failure: Schema.Union(ApiError(UnauthorizedError), ApiError(ServiceUnavailableError)),
  provides: CurrentPrincipal,
  security: { bearer: HttpApiSecurity.bearer }
}) {}

/**
 * The implementation of {@link Authentication} (reuses the principal the global middleware already verified).
 *
 * @since 0.1.0
 * @category HttpApi
 */
export const layerAuthentication: Layer.Layer<Authentication, never, JwtVerifier> = Layer.effect(
  Authentication,
  Effect.map(JwtVerifier, (verifier) =>
    Authentication.of({
      bearer: (token) =>
        Effect.flatMap(FiberRef.get(currentPrincipal), (existing) =>
          Option.isSome(existing)
            ? Effect.succeed(existing.value)
            : Redacted.value(token) === ""
            ? authenticationRequired
            : Effect.tap(verifier.verify(Redacted.value(token)), (p) => FiberRef.set(currentPrincipal, Option.some(p))))
    }))
)
