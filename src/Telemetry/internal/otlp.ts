/**
 * The `telemetry.otlp` settings: the endpoint's check and the headers, read as a mapping or as one
 * `name=value,name=value` value.
 *
 * @internal
 */
import * as Arr from "effect/Array"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Either from "effect/Either"
import type * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as headerList from "../../Config/internal/headerList.js"
import { redactValueCredentials } from "../../Config/internal/names.js"

/**
 * The spans an OTLP span processor holds at most, waiting for export, by default (OpenTelemetry's).
 *
 * @internal
 */
export const defaultMaxQueueSize = 2048

/**
 * The largest `telemetry.max_queue_size`: each span waiting for export holds its attributes and events.
 *
 * @internal
 */
export const maxQueueSizeLimit = 1_000_000

/**
 * What is wrong with an OTLP/HTTP endpoint, if anything: the exporter takes an absolute `http://` or `https://` URL.
 * The endpoint is quoted with its userinfo and every query value hidden.
 *
 * @internal
 */
export const endpointProblem = (endpoint: string): string | undefined => {
  const url = URL.canParse(endpoint) ? new URL(endpoint) : undefined
  return url !== undefined && (url.protocol === "http:" || url.protocol === "https:") ?
    undefined :
    `Expected an http:// or https:// URL but got ${JSON.stringify(redactValueCredentials(endpoint, "all"))}`
}

/**
 * The endpoint without its userinfo, and the userinfo as the `authorization` header Node's HTTP client sends for it
 * (`Basic` and the base64 of the decoded `user:password`), unless the headers already set one, which Node's client
 * would send instead. The credential then lives only in a redacted header, never in the endpoint string, which a
 * service may log or show. `undefined` when the userinfo is not valid percent-encoding (Node's client throws on it).
 *
 * @internal
 */
export const moveUserinfo = (
  endpoint: string,
  headers: Readonly<Record<string, Redacted.Redacted>>
): { readonly endpoint: string; readonly headers: Readonly<Record<string, Redacted.Redacted>> } | undefined => {
  const url = URL.canParse(endpoint) ? new URL(endpoint) : undefined
  if (url === undefined || (url.username === "" && url.password === "")) return { endpoint, headers }
  let userinfo: string
  try {
    userinfo = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`
  } catch {
    return undefined
  }
  url.username = ""
  url.password = ""
  const hasAuthorization = Object.keys(headers).some((name) => name.toLowerCase() === "authorization")
  return {
    endpoint: url.href,
    headers: hasAuthorization ?
      headers :
      { ...headers, authorization: Redacted.make(`Basic ${Buffer.from(userinfo, "utf8").toString("base64")}`) }
  }
}

const allOf = (errors: Arr.NonEmptyReadonlyArray<ConfigError.ConfigError>): ConfigError.ConfigError =>
  Arr.reduce(Arr.tailNonEmpty(errors), Arr.headNonEmpty(errors), (left, right) => ConfigError.And(left, right))

const headersOf = (
  value: Either.Either<HashMap.HashMap<string, Redacted.Redacted>, Redacted.Redacted>
): Either.Either<Readonly<Record<string, Redacted.Redacted>>, ConfigError.ConfigError> => {
  if (Either.isLeft(value)) {
    return Either.mapBoth(headerList.parseHeaderList(Redacted.value(value.left)), {
      onLeft: (problems) =>
        allOf(
          Arr.map(problems, ({ position, problem }) =>
            ConfigError.InvalidData([], headerList.problemMessage(problem, position)))
        ),
      onRight: (headers) => Object.fromEntries(headers.map(([name, text]) => [name, Redacted.make(text)]))
    })
  }
  const problems = Arr.filterMap([...value.right], ([name, secret]) =>
    Option.map(
      Option.fromNullable(headerList.headerProblem(name, Redacted.value(secret))),
      (problem) => ConfigError.InvalidData([name], headerList.problemMessage(problem))
    ))
  return Arr.isNonEmptyArray(problems) ? Either.left(allOf(problems)) : Either.right(Object.fromEntries(value.right))
}

/**
 * `headers`: a mapping of header name to value, or one value in the format of OpenTelemetry's
 * `OTEL_EXPORTER_OTLP_HEADERS` (`api-key=abc,x-tenant=t1`, names and values percent-encoded), as an environment
 * variable can only give it. The values are secrets: a problem names the header or the item's position, never the
 * value.
 *
 * @internal
 */
export const headers: Config.Config<Readonly<Record<string, Redacted.Redacted>>> = Config.orElse(
  Config.map(Config.redacted(), Either.left),
  () => Config.map(Config.hashMap(Config.redacted()), Either.right)
).pipe(Config.nested("headers"), Config.mapOrFail(headersOf))
