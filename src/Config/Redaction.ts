/**
 * Hiding credentials in text that may reach a log line, an error, a span or a metric. Every module of the toolkit
 * that writes a server address (NATS servers, database and Redis URLs) writes it through here.
 *
 * @since 0.1.0
 */
import * as names from "./internal/names.js"

/**
 * Hides the credentials of every URL in a text: the userinfo, user name included (`nats://user:pw@host:4222` ->
 * `nats://***@host:4222`, `nats://token@host` -> `nats://***@host`), and the values of secret-looking query
 * parameters (`postgres://db/app?password=pw` -> `postgres://db/app?password=***`). Text without such URLs is
 * returned unchanged.
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
