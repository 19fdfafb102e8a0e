/**
 * Helpers of the migration tests: the typed failure of an effect, a random suffix for names, whether a relation
 * exists, and a failure read as a `MigrationError`.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { expect } from "@effect/vitest"
import { Effect } from "effect"
import * as Sql from "../../src/Sql/index.js"
import { failureOf } from "./exits.js"

/** The effect's typed failure (a test failure when it succeeds). */
export const failureIn = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.map(Effect.exit(effect), failureOf)

/** Six random characters, for names of the test's own. */
export const suffix = () => Math.random().toString(36).slice(2, 8)

/** Whether the relation `name` exists (`to_regclass`). */
export const present = (name: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql<{ readonly present: boolean }>`SELECT to_regclass(${name}) IS NOT NULL AS present`
  ).pipe(Effect.map((rows) => rows[0]?.present === true))

/** The error, checked to be a `MigrationError`. */
export const asMigrationError = (error: unknown) => {
  expect(error).toBeInstanceOf(Sql.Migrations.MigrationError)
  return error as Sql.Migrations.MigrationError
}
