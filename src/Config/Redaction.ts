/**
 * Hiding credentials in text that may reach a log line, an error, a span or a metric. Every module of the toolkit
 * that writes a server address (NATS servers, database and Redis URLs) writes it through here.
 *
 * @since 0.1.0
 */
import * as names from "./internal/names.js"

/**
 * Hides the credentials of every URL in a text: the userinfo, user name included (`nats://user:pw@host:4222` ->
 * `nats://***@host:4222`, `nats://token@host` -> `nats://***@host`, `user:pw@host:4222` -> `***@host:4222`), up to
 * the last `@` before the host whatever the password holds, and the values of secret-looking query parameters
 * (`postgres://db/app?password=pw` -> `postgres://db/app?password=***`; an OAuth `?code=` and a `?sig=` too). Each
 * server of a comma-separated list keeps its host. Whitespace ends a URL (a password with a space is
 * percent-encoded in one). Text without such URLs, an e-mail address among it, is returned unchanged.
 *
 * @example
 * ```ts
 * import { Config as GlamConfig } from "@glam/shared"
 *
 * GlamConfig.redactUrlCredentials("Cannot connect to nats://app:hunter2@n1:4222")
 * // "Cannot connect to nats://***@n1:4222"
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const redactUrlCredentials: (text: string) => string = names.redactUrlCredentials
