/**
 * JWT issuing on `jose` `SignJWT`, the counterpart of `JwtAuth`'s verification: access and refresh tokens signed
 * with the `auth` section's key (`auth.secret` for HS algorithms, else `auth.private_key`), algorithm (the first of
 * `auth.algorithms`), issuer and audience, with the energy platform's claim names: `user_id` (also `sub`), `role`,
 * `roles`, `permissions`, `merchant_id`, and `type` (`access` or `refresh`); `iat`, `exp` and a `jti` on each, `iat`
 * the time of Effect's `Clock` in the issuing fiber (a `TestClock`, a service's own `Clock`) and `exp` that plus the
 * token's lifetime.
 * `JwtAuth` refuses a refresh token as a bearer token.
 *
 * @since 0.2.0
 */
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as jose from "jose"
import * as crypto from "node:crypto"
import { duration } from "../Config/internal/duration.js"
import * as ConfiguredSecrets from "../internal/configuredSecrets.js"
import * as JsonValue from "../internal/jsonValue.js"
import * as HttpConfig from "./HttpConfig.js"
import * as JwtKeys from "./internal/jwtKeys.js"

/**
 * The issuing settings: the `auth` section plus `auth.private_key`, `auth.access_token_ttl` (default 30 minutes)
 * and `auth.refresh_token_ttl` (default 7 days).
 *
 * @since 0.2.0
 * @category models
 */
export interface IssuerConfig extends HttpConfig.AuthConfig {
  readonly privateKey: Option.Option<Redacted.Redacted>
  readonly accessTokenTtl: Duration.Duration
  readonly refreshTokenTtl: Duration.Duration
}

/**
 * Reads the issuing settings (`auth.*`).
 *
 * @since 0.2.0
 * @category config
 */
export const config: Config.Config<IssuerConfig> = Config.all({
  auth: HttpConfig.auth,
  privateKey: Config.option(Config.redacted("private_key")).pipe(Config.nested("auth")),
  accessTokenTtl: Config.withDefault(duration("access_token_ttl"), Duration.minutes(30)).pipe(
    Config.nested("auth")
  ),
  refreshTokenTtl: Config.withDefault(duration("refresh_token_ttl"), Duration.days(7)).pipe(
    Config.nested("auth")
  )
}).pipe(Config.map(({ auth, ...rest }) => ({ ...auth, ...rest })))

/**
 * A value a token's claims may hold: what JSON writes as it is. A `bigint`, a function, a symbol, `undefined`, a
 * `Date` or another class instance, or a value that contains itself is not one; nor is a number that is not finite
 * (`NaN`, `Infinity`), which the type cannot tell apart: issuing refuses it as it refuses the others. An object's
 * property left `undefined` is left out, as JSON leaves it.
 *
 * @since 0.2.0
 * @category models
 */
export type ClaimValue =
  | string
  | number
  | boolean
  | null
  | ReadonlyArray<ClaimValue>
  | { readonly [key: string]: ClaimValue }

/**
 * Who a token is for. `userId` is written as `sub` and `user_id`; `JwtAuth` refuses a token whose subject is empty.
 * `claims` are added as they are (they cannot replace the registered ones); they are JSON values ({@link ClaimValue}).
 * `JwtAuth` reads the claims `role`, `roles`, `permissions`, `scope` and `merchant_id` as the principal's
 * authorization: the typed fields, when set, replace the claims of those names, and a claim of one of those names
 * grants what it says when its field is unset, so `claims` holds what the service decided, never a request's input. A
 * claim that is not a `ClaimValue`, from a caller the type does not reach (JavaScript, a cast), or a number that is not
 * finite, makes issuing die with a defect naming the claim's path (`claims.meta.amount is a bigint`), never its value.
 *
 * @since 0.2.0
 * @category models
 */
export interface Subject {
  readonly userId: string
  readonly role?: string | undefined
  readonly roles?: ReadonlyArray<string> | undefined
  readonly permissions?: ReadonlyArray<string> | undefined
  readonly merchantId?: string | undefined
  readonly claims?: { readonly [key: string]: ClaimValue } | undefined
}

/**
 * An access and a refresh token, as an OAuth2 token response names them.
 *
 * @since 0.2.0
 * @category models
 */
export interface TokenPair {
  readonly access_token: string
  readonly refresh_token: string
  readonly token_type: "bearer"
  /** Seconds the access token is valid. */
  readonly expires_in: number
}

/**
 * The issuer's operations.
 *
 * @since 0.2.0
 * @category models
 */
export interface JwtIssuerService {
  readonly issueAccessToken: (subject: Subject) => Effect.Effect<string>
  readonly issueRefreshToken: (subject: Subject) => Effect.Effect<string>
  readonly issueTokens: (subject: Subject) => Effect.Effect<TokenPair>
}

/**
 * The issuer service.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Http } from "@glam/shared"
 *
 * const login = Effect.gen(function*() {
 *   const issuer = yield* Http.JwtIssuer.JwtIssuer
 *   return yield* issuer.issueTokens({ userId: "123", role: "admin" })
 * })
 * ```
 *
 * @since 0.2.0
 * @category tags
 */
export class JwtIssuer extends Context.Tag("@glam/shared/Http/JwtIssuer")<JwtIssuer, JwtIssuerService>() {}

const signingKey = (
  config: IssuerConfig,
  alg: string
): Effect.Effect<jose.CryptoKey | Uint8Array | crypto.KeyObject, ConfigError.ConfigError> => {
  if (alg.startsWith("HS")) {
    return Option.match(config.secret, {
      onNone: () => Effect.fail(ConfigError.MissingData(["auth", "secret"], `${alg} signs with auth.secret`)),
      onSome: (secret) => {
        const bytes = new TextEncoder().encode(Redacted.value(secret))
        return Effect.as(JwtKeys.checkSecret(bytes, [alg], config.allowShortSecret), bytes)
      }
    })
  }
  return Option.match(config.privateKey, {
    onNone: () => Effect.fail(ConfigError.MissingData(["auth", "private_key"], `${alg} signs with auth.private_key`)),
    onSome: (pem) =>
      Effect.try({
        try: () => crypto.createPrivateKey(Redacted.value(pem)),
        catch: () => ConfigError.InvalidData(["auth", "private_key"], "not a PEM private key")
      })
  })
}

const registered = new Set(["iss", "aud", "sub", "exp", "iat", "nbf", "jti", "type"])

const extraClaims = (subject: Subject): Record<string, unknown> =>
  Object.fromEntries(Object.entries(subject.claims ?? {}).filter(([k]) => !registered.has(k)))

// Where the first claim that is not a `ClaimValue` is (`claims.meta.amounts[1]`) and what it is, never its value.
const notJsonClaim = (claims: Record<string, unknown>): string | undefined => {
  const found = JsonValue.notJson(claims)
  if (found === undefined) return undefined
  const at = found.path.map((key) => typeof key === "number" ? `[${key}]` : `.${key}`).join("")
  return `claims${at} is ${found.kind}`
}

const payloadOf = (
  subject: Subject,
  extra: Record<string, unknown>,
  type: "access" | "refresh"
): jose.JWTPayload => {
  return {
    ...extra,
    user_id: subject.userId,
    ...(subject.role === undefined ? {} : { role: subject.role }),
    ...(subject.roles === undefined ? {} : { roles: [...subject.roles] }),
    ...(subject.permissions === undefined ? {} : { permissions: [...subject.permissions] }),
    ...(subject.merchantId === undefined ? {} : { merchant_id: subject.merchantId }),
    type
  }
}

/**
 * The lifetimes a token may have, in whole seconds: at least 1 second (a shorter one, or a negative one, would
 * answer `expires_in: 0`), at most 3650 days: unbounded, a billion weeks issues tokens that in effect never expire,
 * with an `exp` past the year 9999 where Python's `datetime` stops (and past 2^53, numbers lose their seconds).
 */
const ttlBounds = { minSeconds: 1, maxSeconds: 3650 * 24 * 60 * 60 } as const

/** The lifetime in whole seconds, or the `ConfigError` at `auth.<key>` of one outside {@link ttlBounds}. */
const ttlSeconds = (ttl: Duration.Duration, key: string): Effect.Effect<number, ConfigError.ConfigError> => {
  const seconds = Math.round(Duration.toSeconds(ttl))
  return Number.isSafeInteger(seconds) && seconds >= ttlBounds.minSeconds && seconds <= ttlBounds.maxSeconds
    ? Effect.succeed(seconds)
    : Effect.fail(ConfigError.InvalidData(["auth", key], "a token lifetime is 1 second to 3650 days"))
}

/**
 * Builds an issuer (the algorithm is the first of `auth.algorithms`). For an HMAC algorithm, an `auth.secret`
 * shorter than its hash output (32 bytes for HS256, 48 for HS384, 64 for HS512: RFC 7518, section 3.2) is a
 * `ConfigError` at `auth.secret` that names the algorithm, never the secret (a warning instead with
 * `auth.allow_short_secret`). An `auth.access_token_ttl` or `auth.refresh_token_ttl` below 1 second (rounded to
 * whole seconds) or above 3650 days is a `ConfigError` at its key.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (config: IssuerConfig): Effect.Effect<JwtIssuerService, ConfigError.ConfigError> =>
  Effect.gen(function*() {
    const alg = config.algorithms[0]
    if (alg === undefined || alg.toLowerCase() === "none") {
      return yield* Effect.fail(ConfigError.InvalidData(["auth", "algorithms"], "pin a signing algorithm"))
    }
    const accessSeconds = yield* ttlSeconds(config.accessTokenTtl, "access_token_ttl")
    const refreshSeconds = yield* ttlSeconds(config.refreshTokenTtl, "refresh_token_ttl")
    const key = yield* signingKey(config, alg)
    // Imported when an issuer is built: a service that issues no tokens does not load jose.
    const jose = yield* Effect.promise(() => import("jose"))
    // A key that cannot sign with the algorithm (an EC key for RS256, an algorithm jose does not know) fails here,
    // as configuration, rather than at every token: what jose says names the algorithm and the key's type, never
    // the key.
    yield* Effect.tryPromise({
      try: () => new jose.SignJWT({}).setProtectedHeader({ alg, typ: "JWT" }).sign(key),
      catch: (error) =>
        ConfigError.InvalidData(
          alg.startsWith("HS") ? ["auth", "algorithms"] : ["auth", "private_key"],
          `cannot sign ${alg} with the configured key: ${
            error instanceof Error ? error.message.slice(0, 200) : "refused"
          }`
        )
    })
    // `iat` and `exp` are the time of the fiber's `Clock` (a service's own, a test's `TestClock`), as the verifier
    // reads them.
    const sign = (subject: Subject, type: "access" | "refresh", seconds: number) =>
      Effect.flatMap(Clock.currentTimeMillis, (nowMs) => {
        // The type admits JSON values only: a caller it does not reach gets a defect naming the claim, not the
        // TypeError of `JSON.stringify` (or a claim it leaves out without a word).
        const extra = extraClaims(subject)
        const problem = notJsonClaim(extra)
        if (problem !== undefined) {
          return Effect.dieMessage(`JwtIssuer: ${problem}; claims are JSON values (JwtIssuer.ClaimValue)`)
        }
        const issuedAt = Math.floor(nowMs / 1000)
        return Effect.promise(() => {
          let jwt = new jose.SignJWT(payloadOf(subject, extra, type))
            .setProtectedHeader({ alg, typ: "JWT" })
            .setSubject(subject.userId)
            .setIssuedAt(issuedAt)
            .setJti(crypto.randomUUID())
            .setExpirationTime(issuedAt + seconds)
          if (Option.isSome(config.issuer)) jwt = jwt.setIssuer(config.issuer.value)
          if (Option.isSome(config.audience)) jwt = jwt.setAudience(config.audience.value)
          return jwt.sign(key)
        })
      }).pipe(Effect.withSpan("JwtIssuer.sign", { attributes: { "jwt.type": type } }))
    const issueAccessToken = (subject: Subject) => sign(subject, "access", accessSeconds)
    const issueRefreshToken = (subject: Subject) => sign(subject, "refresh", refreshSeconds)
    return {
      issueAccessToken,
      issueRefreshToken,
      issueTokens: (subject) =>
        Effect.map(
          Effect.all([issueAccessToken(subject), issueRefreshToken(subject)]),
          ([access_token, refresh_token]): TokenPair => ({
            access_token,
            refresh_token,
            token_type: "bearer",
            expires_in: accessSeconds
          })
        )
    }
  })

// The issuer of a layer: its secret and private key hidden in the toolkit's logs and spans while the layer is in use.
const layerOf = (settings: Config.Config<IssuerConfig>): Layer.Layer<JwtIssuer, ConfigError.ConfigError> =>
  Layer.scoped(
    JwtIssuer,
    Effect.flatMap(settings, (issuer) =>
      ConfiguredSecrets.registerGiven({
        secrets: [Option.getOrUndefined(issuer.secret), Option.getOrUndefined(issuer.privateKey)]
      }).pipe(Effect.zipRight(make(issuer))))
  )

/**
 * The issuer from configuration (`auth.*`). While the layer is in use, `auth.secret` and `auth.private_key` are
 * hidden in the toolkit's log lines and exported spans.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerConfig: Layer.Layer<JwtIssuer, ConfigError.ConfigError> = layerOf(config)

/**
 * The issuer from explicit settings. While the layer is in use, its `secret` and `privateKey` are hidden in the
 * toolkit's log lines and exported spans.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (settings: Config.Config.Wrap<IssuerConfig>): Layer.Layer<JwtIssuer, ConfigError.ConfigError> =>
  layerOf(Config.unwrap(settings))
