/**
 * The security headers helmet sends by default, the subset that matters for a JSON API, on every response of the
 * serve stack (error envelopes included): `X-Content-Type-Options: nosniff`, `Referrer-Policy`,
 * `Cross-Origin-Resource-Policy`, `Cross-Origin-Opener-Policy`, `X-Frame-Options`, `X-DNS-Prefetch-Control: off`,
 * `X-Permitted-Cross-Domain-Policies: none`, `X-XSS-Protection: 0`, and `Strict-Transport-Security` when
 * `http.hsts_max_age` is set (only a service behind TLS should send it). The stack sends no `X-Powered-By`.
 *
 * Keys: `http.security_headers` (true), `http.referrer_policy` ("no-referrer"),
 * `http.cross_origin_resource_policy` ("same-origin"), `http.frame_options` ("SAMEORIGIN"),
 * `http.hsts_max_age` (seconds; none), `http.hsts_include_subdomains` (true).
 *
 * @since 0.2.0
 */
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ResponseHeaders from "./internal/responseHeaders.js"

/**
 * The settings of the headers.
 *
 * @since 0.2.0
 * @category models
 */
export interface SecurityHeadersConfig {
  readonly enabled: boolean
  readonly referrerPolicy: string
  readonly crossOriginResourcePolicy: "same-origin" | "same-site" | "cross-origin"
  readonly frameOptions: "DENY" | "SAMEORIGIN"
  /** Seconds; `None` sends no `Strict-Transport-Security`. */
  readonly hstsMaxAge: Option.Option<number>
  readonly hstsIncludeSubdomains: boolean
}

/**
 * Reads the settings (`http.*`).
 *
 * @since 0.2.0
 * @category config
 */
export const config: Config.Config<SecurityHeadersConfig> = Config.nested(
  Config.all({
    enabled: Config.withDefault(Config.boolean("security_headers"), true),
    referrerPolicy: Config.withDefault(Config.string("referrer_policy"), "no-referrer"),
    crossOriginResourcePolicy: Config.withDefault(
      Config.literal("same-origin", "same-site", "cross-origin")("cross_origin_resource_policy"),
      "same-origin"
    ),
    frameOptions: Config.withDefault(Config.literal("DENY", "SAMEORIGIN")("frame_options"), "SAMEORIGIN"),
    hstsMaxAge: Config.option(
      Config.integer("hsts_max_age").pipe(
        Config.validate({ message: "Expected seconds, at least 0", validation: (n) => n >= 0 })
      )
    ),
    hstsIncludeSubdomains: Config.withDefault(Config.boolean("hsts_include_subdomains"), true)
  }),
  "http"
)

/**
 * The headers of the settings (empty when disabled).
 *
 * @since 0.2.0
 * @category constructors
 */
export const headers = (settings: SecurityHeadersConfig): Readonly<Record<string, string>> => {
  if (!settings.enabled) return {}
  const out: Record<string, string> = {
    "x-content-type-options": "nosniff",
    "referrer-policy": settings.referrerPolicy,
    "cross-origin-resource-policy": settings.crossOriginResourcePolicy,
    "cross-origin-opener-policy": "same-origin",
    "x-frame-options": settings.frameOptions,
    "x-dns-prefetch-control": "off",
    "x-permitted-cross-domain-policies": "none",
    "x-xss-protection": "0"
  }
  if (Option.isSome(settings.hstsMaxAge)) {
    out["strict-transport-security"] = `max-age=${settings.hstsMaxAge.value}` +
      (settings.hstsIncludeSubdomains ? "; includeSubDomains" : "")
  }
  return out
}

/**
 * Adds the headers to every response.
 *
 * @since 0.2.0
 * @category middleware
 */
export const middleware = (settings: SecurityHeadersConfig): HttpMiddleware.HttpMiddleware => {
  const entries = ResponseHeaders.entriesOf(headers(settings))
  return HttpMiddleware.make((app) => Effect.map(app, (response) => ResponseHeaders.append(response, entries)))
}
