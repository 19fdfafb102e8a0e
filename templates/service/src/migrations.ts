/**
 * The service's migrations, applied at startup when `database.migrate_on_start` is set. The outbox table is what
 * the outbox relay reads. `glam-migrate` reads a directory of `<id>_<name>.sql` files (`--dir`), not this record:
 * to run migrations apart from startup, keep them as such files and load them here with
 * `Sql.Migrations.fromDirectory`.
 */
import { Sql } from "@glam/shared"

const { mixinColumns, naming } = Sql.ModelMixins

export const migrations = Sql.Migrations.fromRecord({
  "0001_outbox": Sql.OutboxInboxTables.outboxMigration,
  "0002_items": `CREATE TABLE IF NOT EXISTS items (
    id uuid CONSTRAINT ${naming.pk("items")} PRIMARY KEY,
    name text NOT NULL,
    ${mixinColumns({ timestamps: true })}
  );
  CREATE INDEX IF NOT EXISTS ${naming.ix("items", "created_at")} ON items (created_at);`
})
