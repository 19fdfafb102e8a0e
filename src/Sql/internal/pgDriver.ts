/**
 * The `pg` driver, the very copy `@effect/sql-pg` uses (wherever the package manager put it), typed by the part
 * the toolkit calls (`pg` ships no types).
 *
 * @internal
 */
import { createRequire } from "node:module"

/** @internal */
export interface PgPool {
  query(text: string): Promise<unknown>
  query(text: string, callback: (error: Error | undefined) => void): void
  end(): Promise<void>
  on(event: "error", listener: (error: Error) => void): this
  on(event: "acquire" | "release", listener: () => void): this
  on(event: "connect", listener: (client: PgPoolClient) => void): this
}

/** A connection of a pool, as the `connect` event gives it. @internal */
export interface PgPoolClient {
  query: (...args: Array<unknown>) => unknown
}

/** @internal */
interface PgNotification {
  readonly channel: string
  readonly payload?: string | undefined
}

/** @internal */
export interface PgConnection {
  connect(): Promise<void>
  query(text: string): Promise<unknown>
  end(): Promise<void>
  on(event: "error", listener: (error: Error) => void): this
  on(event: "end", listener: () => void): this
  on(event: "notification", listener: (message: PgNotification) => void): this
}

/** @internal */
interface PgModule {
  readonly Pool: new(config: Record<string, unknown>) => PgPool
  readonly Client: new(config: Record<string, unknown>) => PgConnection
  readonly escapeIdentifier: (identifier: string) => string
  /** The text the driver sends for a bound parameter (a `Date` as a timestamp with its offset). */
  readonly utils: { readonly prepareValue: (value: unknown) => unknown }
  readonly types: {
    readonly getTypeParser: (oid: number, format?: "text" | "binary") => (value: string) => unknown
  }
}

const requireFromHere = createRequire(import.meta.url)
const requireFromSqlPg = createRequire(requireFromHere.resolve("@effect/sql-pg"))

/** @internal */
export const Pg = requireFromSqlPg("pg") as PgModule

/**
 * `pg-connection-string`'s `parse`, the copy `pg` reads a `connectionString` with (a dependency of `pg`, not of
 * this package): a url's parts, its query parameters included, as `pg` would take them. Throws on a url it cannot
 * read.
 *
 * @internal
 */
export const parseConnectionString = (
  createRequire(requireFromSqlPg.resolve("pg"))("pg-connection-string") as {
    readonly parse: (url: string) => Record<string, unknown>
  }
).parse
