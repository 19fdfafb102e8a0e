/**
 * The seed's SQLAlchemy mixins as field sets for `@effect/sql`'s `Model.Class`, their DDL, and the seed's naming
 * convention for constraints and indexes. `Repository.make` recognises the field sets and maintains them.
 *
 * @example
 * ```ts
 * import { Model } from "@effect/sql"
 * import { Schema } from "effect"
 * import { ModelMixins } from "@glam/shared/Sql"
 *
 * class Item extends Model.Class<Item>("Item")({
 *   id: Model.GeneratedByApp(Schema.UUID),
 *   name: Schema.String,
 *   ...ModelMixins.Timestamps,
 *   ...ModelMixins.SoftDelete,
 *   ...ModelMixins.MerchantTenant
 * }) {}
 * ```
 *
 * @since 0.1.0
 */
import * as Model from "@effect/sql/Model"
import * as Schema from "effect/Schema"

const GeneratedTimestamp = Model.Field({ select: Model.DateTimeFromDate, json: Schema.DateTimeUtc })

/**
 * `created_at` and `updated_at` (the seed's `TimestampedMixin`): set by the database on insert (`DEFAULT now()`),
 * `updated_at` set by the repository on every update; read-only for callers (absent from insert and update).
 *
 * @since 0.1.0
 * @category mixins
 */
export const Timestamps = {
  created_at: GeneratedTimestamp,
  updated_at: GeneratedTimestamp
}

/**
 * `deleted_at` and `is_deleted` (the seed's `SoftDeleteMixin`): set by the repository's delete; rows so marked
 * are left out of its queries unless asked for with `withDeleted: true`.
 *
 * @since 0.1.0
 * @category mixins
 */
export const SoftDelete = {
  deleted_at: Model.Field({
    select: Schema.OptionFromNullOr(Model.DateTimeFromDate),
    json: Schema.OptionFromNullOr(Schema.DateTimeUtc)
  }),
  is_deleted: Model.Field({ select: Schema.Boolean, json: Schema.Boolean })
}

/**
 * `merchant_id` and `merchant_domain` (the seed's `MerchantMixin`): every repository query of such a model is
 * confined to the current tenant, which the caller must provide (`Repository.withTenant`).
 *
 * @since 0.1.0
 * @category mixins
 */
export const MerchantTenant = {
  merchant_id: Schema.UUID,
  merchant_domain: Schema.String.pipe(Schema.maxLength(255))
}

const identifier = /^[a-z_][a-z0-9_]*$/

const checked = (...names: ReadonlyArray<string>): void => {
  for (const name of names) {
    if (!identifier.test(name)) {
      throw new TypeError(`Not a plain lower-case SQL identifier: ${JSON.stringify(name)}`)
    }
  }
}

/**
 * The seed's naming convention (SQLAlchemy `naming_convention`): `pk_<table>`, `uq_<table>_<column>`,
 * `ck_<table>_<name>`, `fk_<table>_<column>_<referred table>`, `ix_<table>_<column>`. Names must be plain
 * lower-case identifiers; anything else throws (these build DDL text).
 *
 * @example
 * ```ts
 * import { ModelMixins } from "@glam/shared/Sql"
 *
 * ModelMixins.naming.uq("items", "sku") // "uq_items_sku"
 * ```
 *
 * @since 0.1.0
 * @category naming
 */
export const naming = {
  pk: (table: string): string => (checked(table), `pk_${table}`),
  uq: (table: string, column: string): string => (checked(table, column), `uq_${table}_${column}`),
  ck: (table: string, name: string): string => (checked(table, name), `ck_${table}_${name}`),
  fk: (table: string, column: string, referredTable: string): string => (
    checked(table, column, referredTable), `fk_${table}_${column}_${referredTable}`
  ),
  ix: (table: string, column: string): string => (checked(table, column), `ix_${table}_${column}`)
}

/**
 * Which mixins a table has.
 *
 * @since 0.1.0
 * @category models
 */
export interface MixinSet {
  readonly timestamps?: boolean
  readonly softDelete?: boolean
  readonly merchantTenant?: boolean
}

/**
 * The column definitions of the mixins, for a `CREATE TABLE` (comma-separated, without a trailing comma).
 *
 * @since 0.1.0
 * @category ddl
 */
export const mixinColumns = (mixins: MixinSet): string =>
  [
    ...(mixins.merchantTenant === true ? ["merchant_id uuid NOT NULL", "merchant_domain varchar(255) NOT NULL"] : []),
    ...(mixins.timestamps === true ?
      ["created_at timestamptz NOT NULL DEFAULT now()", "updated_at timestamptz NOT NULL DEFAULT now()"] :
      []),
    ...(mixins.softDelete === true ? ["deleted_at timestamptz NULL", "is_deleted boolean NOT NULL DEFAULT false"] : [])
  ].join(",\n  ")

/**
 * The indexes the seed's mixins declared (`index=True`), named by the convention; `;`-terminated statements.
 *
 * @since 0.1.0
 * @category ddl
 */
export const mixinIndexes = (table: string, mixins: MixinSet): string => {
  checked(table)
  const index = (column: string, columns = column) =>
    `CREATE INDEX IF NOT EXISTS ${naming.ix(table, column)} ON ${table} (${columns});`
  return [
    ...(mixins.merchantTenant === true ?
      [
        index("merchant_id"),
        index("merchant_domain"),
        index("merchant_id_domain", "merchant_id, merchant_domain")
      ] :
      []),
    ...(mixins.timestamps === true ? [index("created_at")] : []),
    ...(mixins.softDelete === true ? [index("is_deleted")] : [])
  ].join("\n")
}
