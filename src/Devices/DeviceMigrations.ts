/**
 * The `devices` table of the registry, and the `mqtt_qos2_messages` table of the MQTT client's database store of
 * received QoS 2 messages (`mqtt.qos2_store: database`), as migrations a service includes in its own numbering (like
 * the outbox's). Idempotent (`IF NOT EXISTS`).
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
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Qos2Store from "./internal/qos2Store.js"

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

/** The columns the registry reads and writes, with their types as PostgreSQL's `format_type` names them. */
const columns: ReadonlyArray<readonly [name: string, type: string]> = [
  ["device_id", "text"],
  ["device_type", "text"],
  ["topics", "text[]"],
  ["created_at", "timestamp with time zone"],
  ["updated_at", "timestamp with time zone"]
]

interface Column {
  readonly name: string
  readonly type: string
  readonly required: boolean
}

// The columns of the `devices` table the DDL names (the search path's), and whether `device_id` alone is unique.
const describeTable = (sql: SqlClient.SqlClient) =>
  Effect.all([
    sql.unsafe<Column>(
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
        (a.attnotnull AND NOT a.atthasdef) AS required
      FROM pg_attribute a WHERE a.attrelid = to_regclass('devices') AND a.attnum > 0 AND NOT a.attisdropped`
    ).withoutTransform,
    sql.unsafe<{ readonly is_unique: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid
        AND a.attnum = i.indkey[0] WHERE i.indrelid = to_regclass('devices') AND i.indisunique AND i.indnkeyatts = 1
        AND i.indpred IS NULL AND a.attname = 'device_id') AS is_unique`
    ).withoutTransform
  ])

// Why a `devices` table that already existed cannot hold the registry, if it cannot.
const mismatch = (found: ReadonlyArray<Column>, unique: boolean): string | undefined => {
  const byName = new Map(found.map((c) => [c.name, c]))
  for (const [name, type] of columns) {
    const column = byName.get(name)
    if (column === undefined) return `has no column ${name} (${type})`
    if (column.type !== type) return `has column ${name} of type ${column.type}, not ${type}`
  }
  const extra = found.find((c) => c.required && !columns.some(([name]) => name === c.name))
  if (extra !== undefined) return `has column ${extra.name}, NOT NULL without a default, which the registry never sets`
  return unique ? undefined : "has no primary key or unique index on device_id alone"
}

/**
 * The migration creating `devices`. A `devices` table that already exists (another service's, in a shared schema)
 * is kept, and checked: it must have the registry's columns with their types, a primary key or unique index on
 * `device_id`, and no other column the registry's inserts would leave empty; otherwise the migration fails with a
 * `SqlError` naming what differs, and the registry never runs on it.
 *
 * @since 0.1.0
 * @category migrations
 */
export const devicesMigration: Effect.Effect<void, SqlError, SqlClient.SqlClient> = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql.unsafe(devicesDdl).raw.pipe(
      Effect.zipRight(describeTable(sql)),
      Effect.flatMap(([found, [index]]) => {
        const reason = mismatch(found, index?.is_unique === true)
        return reason === undefined
          ? Effect.void
          : Effect.fail(
            new SqlError({
              message: `The devices table already exists and ${reason}: the device registry cannot use it ` +
                `(rename or migrate that table, or use another schema)`
            })
          )
      })
    )
)

/**
 * The DDL of the `mqtt_qos2_messages` table: one row per QoS 2 message an MQTT client received and acknowledged with
 * PUBREC, until the broker's PUBREL has it handled, keyed by the client id and the message id.
 *
 * @since 0.2.0
 * @category ddl
 */
export const qos2Ddl: string = Qos2Store.ddl

/**
 * The migration creating `mqtt_qos2_messages`, the table of `mqtt.qos2_store: database`
 * (`MqttClientOptions.qos2Store`).
 *
 * @example
 * ```ts
 * import { Devices, Sql } from "@glam/shared"
 *
 * const migrations = Sql.Migrations.fromRecord({
 *   "0001_devices": Devices.DeviceMigrations.devicesMigration,
 *   "0002_mqtt_qos2": Devices.DeviceMigrations.qos2Migration
 * })
 * ```
 *
 * @since 0.2.0
 * @category migrations
 */
export const qos2Migration: Effect.Effect<void, SqlError, SqlClient.SqlClient> = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql.unsafe(qos2Ddl).raw.pipe(Effect.asVoid)
)
