/**
 * Credentials given in NATS server URLs (`nats://user:pass@host:4222`, `nats://token@host:4222`): taken out of the
 * URLs, which the client does not read them from, and merged with the configured `nats.user` / `nats.password` /
 * `nats.token`; and whether the URLs ask for TLS (`tls://`), which the client does not read from them either.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

/** @internal */
export interface NatsAuthOptions {
  readonly servers: ReadonlyArray<string>
  readonly user: Option.Option<string>
  readonly password: Option.Option<Redacted.Redacted>
  readonly token: Option.Option<Redacted.Redacted>
}

/** The servers without credentials, the credentials to log in with, and whether every connection must be TLS. */
export interface NatsAuth {
  readonly servers: ReadonlyArray<string>
  /** Every server is given as `tls://`: a server that does not offer TLS is refused before credentials are sent. */
  readonly tls: boolean
  readonly user: Option.Option<string>
  readonly password: Option.Option<Redacted.Redacted>
  readonly token: Option.Option<Redacted.Redacted>
}

type UrlCredentials =
  | { readonly _tag: "UserPassword"; readonly user: string; readonly password: string }
  | { readonly _tag: "Token"; readonly token: string }

const sameCredentials = (a: UrlCredentials, b: UrlCredentials): boolean =>
  a._tag === "UserPassword"
    ? b._tag === "UserPassword" && a.user === b.user && a.password === b.password
    : b._tag === "Token" && a.token === b.token

/**
 * Splits `scheme://userinfo@host:port` at the last `@` (as a URL parser does): a user name alone is a token, as
 * the Go and Python clients read it. `undefined` credentials when there is no userinfo; a string when the userinfo
 * cannot be percent-decoded.
 */
const splitServer = (
  server: string
): Either.Either<{ readonly server: string; readonly credentials: UrlCredentials | undefined }, string> => {
  const trimmed = server.trim()
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(trimmed)?.[0] ?? ""
  const rest = trimmed.slice(scheme.length)
  const at = rest.lastIndexOf("@")
  if (at === -1) return Either.right({ server: trimmed, credentials: undefined })
  const userinfo = rest.slice(0, at)
  const colon = userinfo.indexOf(":")
  try {
    const credentials: UrlCredentials = colon === -1
      ? { _tag: "Token", token: decodeURIComponent(userinfo) }
      : {
        _tag: "UserPassword",
        user: decodeURIComponent(userinfo.slice(0, colon)),
        password: decodeURIComponent(userinfo.slice(colon + 1))
      }
    return Either.right({ server: scheme + rest.slice(at + 1), credentials })
  } catch {
    return Either.left("its credentials are not correctly percent-encoded")
  }
}

/**
 * The credentials to log in with: those of the URLs (all the same) or the configured ones. Refuses servers whose
 * credentials differ from each other or from configured ones (the message names the keys, never a value).
 *
 * @internal
 */
export const resolve = (options: NatsAuthOptions): Either.Either<NatsAuth, string> => {
  const servers: Array<string> = []
  let found: { readonly index: number; readonly credentials: UrlCredentials } | undefined
  for (const [index, server] of options.servers.entries()) {
    const split = splitServer(server)
    if (Either.isLeft(split)) return Either.left(`nats.servers[${index}]: ${split.left}`)
    servers.push(split.right.server)
    const credentials = split.right.credentials
    if (credentials === undefined) continue
    if (found === undefined) found = { index, credentials }
    else if (!sameCredentials(found.credentials, credentials)) {
      return Either.left(
        `nats.servers[${found.index}] and nats.servers[${index}] carry different credentials: the client logs in to ` +
          "every server with the same ones"
      )
    }
  }
  const tlsServers = servers.filter((server) => /^tls:\/\//i.test(server)).length
  if (tlsServers > 0 && tlsServers < servers.length) {
    const plain = servers.findIndex((server) => !/^tls:\/\//i.test(server))
    return Either.left(
      `nats.servers[${plain}] is not a tls:// URL where others are: the client connects to every server the same ` +
        "way; write each as tls:// to require TLS"
    )
  }
  const tls = tlsServers > 0
  if (found === undefined) {
    return Either.right({ servers, tls, user: options.user, password: options.password, token: options.token })
  }
  const credentials = found.credentials
  const configured = [
    Option.isSome(options.user) ? "nats.user" : undefined,
    Option.isSome(options.password) ? "nats.password" : undefined,
    Option.isSome(options.token) ? "nats.token" : undefined
  ].filter((key) => key !== undefined)
  const agrees = credentials._tag === "UserPassword"
    ? Option.isNone(options.token) &&
      Option.getOrElse(Option.map(options.user, (user) => user === credentials.user), () => true) &&
      Option.getOrElse(
        Option.map(options.password, (password) => Redacted.value(password) === credentials.password),
        () => true
      )
    : Option.isNone(options.user) && Option.isNone(options.password) &&
      Option.getOrElse(Option.map(options.token, (token) => Redacted.value(token) === credentials.token), () => true)
  if (!agrees) {
    return Either.left(
      `nats.servers[${found.index}] carries credentials that differ from ${configured.join(" / ")}: give them in ` +
        "one place, the URL or those keys"
    )
  }
  return Either.right(
    credentials._tag === "UserPassword"
      ? {
        servers,
        tls,
        user: Option.some(credentials.user),
        password: Option.some(Redacted.make(credentials.password)),
        token: Option.none()
      }
      : {
        servers,
        tls,
        user: Option.none(),
        password: Option.none(),
        token: Option.some(Redacted.make(credentials.token))
      }
  )
}
