/**
 * Tenancy of a repository: the `CurrentTenant` service, and the scope (tenant and soft-delete conditions) every
 * statement of a repository adds to its `WHERE`.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { Fragment } from "@effect/sql/Statement"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SchemaAST from "effect/SchemaAST"
import type { Tenant } from "../../Repository.js"

/** @internal */
export class CurrentTenant extends Context.Tag("@glam/shared/Sql/CurrentTenant")<CurrentTenant, Tenant>() {}

/** @internal */
export const withTenant =
  (tenant: Tenant) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, Exclude<R, CurrentTenant>> =>
    Effect.provideService(self, CurrentTenant, tenant)

/**
 * The tenant scope of one repository.
 *
 * @internal
 */
export interface TenantScope {
  /** The current tenant of a tenant model; none otherwise. */
  readonly tenantOf: Effect.Effect<Option.Option<Tenant>>
  /** Runs `f` with the tenant; without tenancy, `f` runs at once (no extra step). */
  readonly withTenantScope: <A, E, R>(
    f: (tenant: Option.Option<Tenant>) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E, R>
  /**
   * Whether a row's `merchant_id` is the tenant's, as PostgreSQL compares them in the tenant condition: as uuids
   * (letter case, hyphens and braces aside) for a `Schema.UUID` field, as strings otherwise.
   */
  readonly isTenants: (merchantId: unknown, tenant: Tenant) => boolean
  /** The tenant and not-deleted conditions, as fragments of bound parameters. */
  readonly scope: (tenant: Option.Option<Tenant>, withDeleted: boolean) => ReadonlyArray<Fragment>
}

const noTenant = Option.none<Tenant>()

// The uuid input PostgreSQL reads (`string_to_uuid`): 32 hex digits in either case, a hyphen allowed after each
// group of four, the whole optionally in braces.
const uuidInput = /^(?:\{[0-9a-f]{4}(?:-?[0-9a-f]{4}){7}\}|[0-9a-f]{4}(?:-?[0-9a-f]{4}){7})$/i

// A uuid as PostgreSQL holds it (lower-case hex, no separators), or `undefined` for a value it would refuse.
const uuidValue = (value: unknown): string | undefined =>
  typeof value === "string" && uuidInput.test(value) ? value.replace(/[{}-]/g, "").toLowerCase() : undefined

// A `Schema.UUID` field (within refinements, transformations and unions, as `Schema.NullOr(Schema.UUID)`; for a
// `Model.Field`, its `insert` variant, the one an insert is encoded by).
const isUuidField = (field: unknown): boolean => {
  const schema = typeof field === "object" && field !== null && "schemas" in field
    ? (field.schemas as { readonly insert?: unknown }).insert
    : field
  if (!Schema.isSchema(schema)) return false
  const stack = [schema.ast]
  for (let at = stack.pop(); at !== undefined; at = stack.pop()) {
    if (Option.getOrUndefined(SchemaAST.getSchemaIdAnnotation(at)) === Schema.UUIDSchemaId) return true
    if (at._tag === "Transformation") stack.push(at.from, at.to)
    else if (at._tag === "Refinement") stack.push(at.from)
    else if (at._tag === "Union") stack.push(...at.types)
  }
  return false
}
const unscoped: ReadonlyArray<Fragment> = []

/**
 * The requirement on `CurrentTenant` is stated by the public `Repository` interface (`Requirements<S>`); here it
 * is erased.
 *
 * @internal
 */
export const makeTenantScope = (
  sql: SqlClient.SqlClient,
  tenancy: boolean,
  softDelete: boolean,
  merchantIdField: unknown
): TenantScope => {
  const uuids = isUuidField(merchantIdField)
  const tenantOf: Effect.Effect<Option.Option<Tenant>> = tenancy
    ? Effect.map(CurrentTenant, Option.some) as unknown as Effect.Effect<Option.Option<Tenant>>
    : Effect.succeed(noTenant)
  return {
    tenantOf,
    isTenants: uuids
      ? (merchantId, tenant) => {
        const value = uuidValue(merchantId)
        return value !== undefined && value === uuidValue(tenant.merchant_id)
      }
      : (merchantId, tenant) => merchantId === tenant.merchant_id,
    withTenantScope: (f) => tenancy ? Effect.flatMap(tenantOf, f) : f(noTenant),
    scope: (tenant, withDeleted) => {
      const byTenant = Option.isSome(tenant)
      const notDeleted = softDelete && !withDeleted
      if (!byTenant && !notDeleted) return unscoped
      return [
        ...(byTenant ? [sql`${sql("merchant_id")} = ${tenant.value.merchant_id}`] : []),
        ...(notDeleted ? [sql`${sql("is_deleted")} = false`] : [])
      ]
    }
  }
}
