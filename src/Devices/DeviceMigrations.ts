/**
 * The `devices` table of the registry, as a migration a service includes in its own numbering (like the outbox's).
 * Idempotent (`IF NOT EXISTS`).
 *
 * @example
 * ```ts
 * import { Devices, Sql } from "@glam/shared"
 *
 * const migrations = Sql.Migrations.fromRecord({
 *   "0001_outbox": Sql.OutboxInboxTables.outboxMigration,
 *   "0002_devices": Devices.DeviceMigrations.devicesMigration
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"

/**
 * The DDL of the `devices` table: one row per registered device. Live status is not stored: each instance of the
 * service follows it from MQTT.
 *
 * @since 0.1.0
 * @category ddl
 */
export const devicesDdl = `CREATE TABLE IF NOT EXISTS devices (
  device_id text CONSTRAINT pk_devices PRIMARY KEY,
  device_type text NOT NULL,
  topics text[] NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ix_devices_device_type ON devices (device_type);`

/**
 * The migration creating `devices`.
 *
 * @since 0.1.0
 * @category migrations
 */
export const devicesMigration: Effect.Effect<void, SqlError, SqlClient.SqlClient> = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => Effect.asVoid(sql.unsafe(devicesDdl).raw)
)
