/**
 * `DeviceMigrations.devicesMigration` on a database of this file's own: it creates the table, runs again without
 * change, and refuses a `devices` table that already exists in a shape the registry cannot use.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, ManagedRuntime } from "effect"
import { afterAll, beforeAll } from "vitest"
import * as DeviceMigrations from "../src/Devices/DeviceMigrations.js"
import * as Sql from "../src/Sql/index.js"
import { serviceAvailable, services } from "./support/services.js"

const pgUp = await serviceAvailable("postgres")
const { host, port, user } = services.postgres
const database = `glam_devmig_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
const admin = ManagedRuntime.make(Sql.layer({ host, port, user }))
const adminSql = (statement: string) =>
  admin.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement)))

const own = Sql.layer({ host, port, user, database })
const statement = (text: string) => Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(text))

/** The migration's outcome on a database whose `devices` table was made by `ddl` (none when empty). */
const migrateOver = (ddl: string) =>
  Effect.gen(function*() {
    yield* statement("DROP TABLE IF EXISTS devices")
    if (ddl !== "") yield* statement(ddl)
    return yield* Effect.exit(DeviceMigrations.devicesMigration)
  })

const failureMessage = (exit: Exit.Exit<void, unknown>): string =>
  Exit.match(exit, { onFailure: (cause) => String(cause), onSuccess: () => "succeeded" })

const registryColumns = `device_type text NOT NULL, topics text[] NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now()`

describe.skipIf(!pgUp)("DeviceMigrations", () => {
  beforeAll(() => adminSql(`CREATE DATABASE ${database}`))
  afterAll(async () => {
    await adminSql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
    await admin.dispose()
  })

  it.scopedLive("creates the table, runs again, keeps a table of the registry's shape with a column of its own", () =>
    Effect.gen(function*() {
      expect(Exit.isSuccess(yield* migrateOver(""))).toBe(true)
      expect(Exit.isSuccess(yield* Effect.exit(DeviceMigrations.devicesMigration))).toBe(true)
      // A table of the registry's shape with a nullable column of its own is kept and used.
      const kept = yield* migrateOver(`CREATE TABLE devices (device_id text PRIMARY KEY, ${registryColumns},
        site text)`)
      expect(Exit.isSuccess(kept)).toBe(true)
    }).pipe(Effect.provide(own)))

  it.scopedLive("refuses an existing devices table the registry cannot use, naming what differs", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, string]> = [
        [
          "CREATE TABLE devices (device_id uuid PRIMARY KEY, device_type text NOT NULL)",
          "has column device_id of type uuid, not text"
        ],
        [
          "CREATE TABLE devices (device_id text PRIMARY KEY, device_type text NOT NULL, name text)",
          "has no column topics (text[])"
        ],
        // Without the key, the registry's insert would not turn a second registration into an update.
        [
          `CREATE TABLE devices (device_id text, ${registryColumns})`,
          "has no primary key or unique index on device_id"
        ],
        [
          `CREATE TABLE devices (device_id text PRIMARY KEY, ${registryColumns}, owner_id bigint NOT NULL)`,
          "has column owner_id, NOT NULL without a default"
        ]
      ]
      for (const [ddl, reason] of cases) {
        const exit = yield* migrateOver(ddl)
        expect(Exit.isFailure(exit), ddl).toBe(true)
        expect(failureMessage(exit), ddl).toContain(`The devices table already exists and ${reason}`)
      }
    }).pipe(Effect.provide(own)))
})
