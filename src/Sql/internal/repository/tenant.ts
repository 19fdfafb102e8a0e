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
  /** The tenant and not-deleted conditions, as fragments of bound parameters. */
  readonly scope: (tenant: Option.Option<Tenant>, withDeleted: boolean) => ReadonlyArray<Fragment>
}

const noTenant = Option.none<Tenant>()
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
  softDelete: boolean
): TenantScope => {
  const tenantOf: Effect.Effect<Option.Option<Tenant>> = tenancy
    ? Effect.map(CurrentTenant, Option.some) as unknown as Effect.Effect<Option.Option<Tenant>>
    : Effect.succeed(noTenant)
  return {
    tenantOf,
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
