/**
 * The toolkit's own tables as migrations a service includes in its own numbering: the transactional outbox
 * (events written in the business transaction, published by `OutboxRelay`) and the inbox (event ids a consumer
 * has handled). Both are idempotent (`IF NOT EXISTS`).
 *
 * @example
 * ```ts
 * import { Sql } from "@glam/shared"
 *
 * const migrations = Sql.fromRecord({
 *   "0001_outbox": Sql.outboxMigration,
 *   "0002_inbox": Sql.inboxMigration,
 *   "0003_items": "CREATE TABLE items (...)"
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"

/**
 * The DDL of the `outbox` table.
 *
 * @since 0.1.0
 * @category ddl
 */
export const outboxDdl = `CREATE TABLE IF NOT EXISTS outbox (
  id uuid CONSTRAINT pk_outbox PRIMARY KEY,
  subject text NOT NULL,
  stream text NULL,
  envelope jsonb NOT NULL,
  headers jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz NULL,
  attempts integer NOT NULL DEFAULT 0,
  last_error text NULL
);
CREATE INDEX IF NOT EXISTS ix_outbox_unpublished ON outbox (created_at) WHERE published_at IS NULL;`

/**
 * The DDL of the `inbox` table.
 *
 * @since 0.1.0
 * @category ddl
 */
export const inboxDdl = `CREATE TABLE IF NOT EXISTS inbox (
  consumer text NOT NULL,
  event_id text NOT NULL,
  handled_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT pk_inbox PRIMARY KEY (consumer, event_id)
);`

/**
 * The migration creating `outbox`.
 *
 * @since 0.1.0
 * @category migrations
 */
export const outboxMigration: Effect.Effect<void, SqlError, SqlClient.SqlClient> = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => Effect.asVoid(sql.unsafe(outboxDdl).raw)
)

/**
 * The migration creating `inbox`.
 *
 * @since 0.1.0
 * @category migrations
 */
export const inboxMigration: Effect.Effect<void, SqlError, SqlClient.SqlClient> = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => Effect.asVoid(sql.unsafe(inboxDdl).raw)
)
