/**
 * The relay's statements over the `outbox` table: the backlog, the cheap checks of an idle loop, locking a batch,
 * marking what was published, failed or can never be published, deleting published rows past the retention.
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as Effect from "effect/Effect"
import { DatabaseError } from "../../Errors/InfrastructureErrors.js"
import type { Backlog } from "../OutboxRelay.js"
import type { SqlFailure } from "../SqlErrors.js"
import { timed } from "./queryMetrics.js"
import { mapSqlErrors } from "./sqlErrors.js"

/** @internal */
export interface Row {
  readonly id: string
  /** Its place in the insert order, as text (a `bigint`). */
  readonly seq: string
  readonly subject: string
  /** The stream the writer named (`enqueue`: its definition's); `null` when it named none. */
  readonly stream: string | null
  /** The headers column's JSON text. */
  readonly headers: string
  /** The envelope column's JSON text: what goes on the wire. */
  readonly body: string
  readonly attempts: number
}

const lastErrorLength = 2000

/** @internal */
export const isMissingTable = (error: unknown): error is DatabaseError =>
  error instanceof DatabaseError && error.details.error_code === "42P01"

/**
 * A column the relay reads is missing: the table was made by an older `outboxDdl`.
 *
 * @internal
 */
export const isMissingColumn = (error: unknown): error is DatabaseError =>
  error instanceof DatabaseError && error.details.error_code === "42703"

// Rows set aside are not pending; a table made before `failed_at` has none.
const pendingFilter = (sql: SqlClient.SqlClient, failedAt: boolean) =>
  sql.literal(failedAt ? " AND failed_at IS NULL" : "")

const backlogOf = (failedAt: boolean): Effect.Effect<Backlog, SqlFailure, SqlClient.SqlClient> =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql<{ readonly pending: number; readonly oldest: number }>`SELECT
        LEAST(count(*), 2147483647)::int AS pending,
        GREATEST(COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - min(created_at)), 0), 0)::float8 AS oldest
      FROM outbox WHERE published_at IS NULL${pendingFilter(sql, failedAt)}`
  ).pipe(
    Effect.map((rows) => ({ pending: rows[0]?.pending ?? 0, oldestAgeSeconds: rows[0]?.oldest ?? 0 })),
    mapSqlErrors({ operation: "outbox.backlog", table: "outbox" })
  )

/**
 * The backlog: rows neither published nor set aside. On a table made before `failed_at`, every unpublished row.
 *
 * @internal
 */
export const backlog: Effect.Effect<Backlog, SqlFailure, SqlClient.SqlClient> = backlogOf(true).pipe(
  Effect.catchIf(isMissingColumn, () => backlogOf(false)),
  timed("outbox.backlog")
)

/**
 * Whether the `outbox` table exists, and whether it has `failed_at` (a table made before it has not).
 *
 * @internal
 */
export const tableColumns: Effect.Effect<
  { readonly present: boolean; readonly failedAt: boolean },
  SqlFailure,
  SqlClient.SqlClient
> = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql<{ readonly present: boolean; readonly failed_at: boolean }>`SELECT to_regclass('outbox') IS NOT NULL AS present,
      EXISTS (
        SELECT 1 FROM pg_attribute
        WHERE attrelid = to_regclass('outbox') AND attname = 'failed_at' AND NOT attisdropped
      ) AS failed_at`
).pipe(
  Effect.map((rows) => ({ present: rows[0]?.present === true, failedAt: rows[0]?.failed_at === true })),
  mapSqlErrors({ operation: "outbox.relay" })
)

// The rows after `after` (a `seq`), or every row.
const afterFilter = (sql: SqlClient.SqlClient, after: string | undefined) =>
  after === undefined ? sql.literal("") : sql` AND seq > ${after}::bigint`

/**
 * The first pending row's `seq` (after `after`, when given), if any: the relay's check for work. An
 * `ORDER BY seq LIMIT 1`, not an `EXISTS`, so that the planner reads the pending rows' partial index whatever it
 * estimates (an `EXISTS` drops the ordering, and PostgreSQL then reads the table in the order it is stored, every
 * row published and kept first).
 *
 * @internal
 */
export const pendingStatement = (sql: SqlClient.SqlClient, failedAt: boolean, after?: string): Statement.Statement<{
  readonly seq: string
}> =>
  sql`SELECT seq FROM outbox WHERE published_at IS NULL${pendingFilter(sql, failedAt)}${
    afterFilter(sql, after)
  } ORDER BY seq LIMIT 1`

/** @internal */
export const hasPending = (
  failedAt: boolean,
  after: string | undefined
): Effect.Effect<boolean, SqlFailure, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => pendingStatement(sql, failedAt, after)).pipe(
    Effect.map((rows) => rows.length > 0),
    mapSqlErrors({ operation: "outbox.relay", table: "outbox" })
  )

/**
 * The statement of {@link lockBatch}. Its order is the column's (`outbox.seq`), not the text it is read as.
 *
 * @internal
 */
export const lockBatchStatement = (
  sql: SqlClient.SqlClient,
  size: number,
  failedAt: boolean,
  after?: string
): Statement.Statement<Row> =>
  sql<Row>`SELECT id::text AS id, seq::text AS seq, subject, stream, headers::text AS headers,
      envelope::text AS body, attempts
    FROM outbox WHERE published_at IS NULL${pendingFilter(sql, failedAt)}${afterFilter(sql, after)}
    ORDER BY outbox.seq
    LIMIT ${size}
    FOR UPDATE SKIP LOCKED`

/**
 * The next unpublished rows in insert order (after `after`, when given), locked for this transaction; rows another
 * relay holds, and rows set aside as unpublishable, are skipped.
 *
 * @internal
 */
export const lockBatch = (
  sql: SqlClient.SqlClient,
  size: number,
  failedAt: boolean,
  after: string | undefined
): Effect.Effect<ReadonlyArray<Row>, SqlError> =>
  lockBatchStatement(sql, size, failedAt, after).pipe(timed("outbox.relay.select"))

/** @internal */
export const markPublished = (
  sql: SqlClient.SqlClient,
  ids: ReadonlyArray<string>
): Effect.Effect<unknown, SqlError> =>
  ids.length === 0
    ? Effect.void
    : sql`UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE id IN ${sql.in(ids)}`.pipe(
      timed("outbox.relay.mark")
    )

/** @internal */
export const markFailed = (
  sql: SqlClient.SqlClient,
  id: string,
  error: { readonly message: string }
): Effect.Effect<unknown, SqlError> =>
  sql`UPDATE outbox SET attempts = attempts + 1, last_error = ${errorText(error)} WHERE id = ${id}`.pipe(
    timed("outbox.relay.mark")
  )

/**
 * Sets aside a row that can never be published (`failed_at`): later passes skip it, and the rows after it go out.
 *
 * @internal
 */
export const markUnpublishable = (
  sql: SqlClient.SqlClient,
  id: string,
  error: { readonly message: string }
): Effect.Effect<unknown, SqlError> =>
  sql`UPDATE outbox SET failed_at = now(), attempts = attempts + 1, last_error = ${errorText(error)} WHERE id = ${id}`
    .pipe(timed("outbox.relay.mark"))

/**
 * Deletes up to `limit` published rows older than `keepSeconds`; the number deleted.
 *
 * @internal
 */
export const deletePublished = (
  keepSeconds: number,
  limit: number
): Effect.Effect<number, SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ readonly n: number }>`WITH doomed AS (
        SELECT id FROM outbox
        WHERE published_at < now() - ${keepSeconds}::float8 * interval '1 second'
        LIMIT ${limit}
      ), deleted AS (DELETE FROM outbox WHERE id IN (SELECT id FROM doomed) RETURNING 1)
      SELECT count(*)::int AS n FROM deleted`).pipe(Effect.map((rows) => rows[0]?.n ?? 0))

/**
 * The headers column's text as a header record (string values only; anything else is dropped). A header named
 * `__proto__` stays a header: defined, not assigned (an assignment would try to set the record's prototype and drop
 * it).
 *
 * @internal
 */
export const headersOf = (text: string): { [name: string]: string } => {
  const out: { [name: string]: string } = {}
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return out
  }
  if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
    for (const [name, value] of Object.entries(parsed)) {
      if (typeof value === "string") {
        Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true })
      }
    }
  }
  return out
}

const errorText = (error: { readonly message: string }): string =>
  error.message.length > lastErrorLength ? `${error.message.slice(0, lastErrorLength - 1)}…` : error.message
