/**
 * Roles and permissions (seed 004's `PermissionChecker`): a permission `resource:action` is granted by itself,
 * by `resource:*` and by `*`; a role by itself. `requireRole` / `requirePermission` answer 403 `FORBIDDEN`
 * (401 `UNAUTHORIZED` when nobody is authenticated).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { ForbiddenError, type UnauthorizedError } from "../Errors/CommonErrors.js"
import * as SecurityEvents from "./internal/securityEvents.js"
import { type Principal, requireAuth } from "./JwtAuth.js"

/**
 * Whether `granted` includes `required`, wildcards included (`users:*` grants `users:read`; `*` grants all).
 *
 * @since 0.1.0
 * @category predicates
 */
export const hasPermission = (granted: ReadonlyArray<string>, required: string): boolean =>
  granted.some((p) => p === "*" || p === required || (p.endsWith(":*") && required.startsWith(p.slice(0, -1))))

/**
 * Whether `roles` includes `role`.
 *
 * @since 0.1.0
 * @category predicates
 */
export const hasRole = (roles: ReadonlyArray<string>, role: string): boolean => roles.includes(role)

/**
 * The current principal when it has the role, else 403 (401 when unauthenticated).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Http } from "@glam/shared"
 *
 * const handler = Effect.zipRight(Http.Permissions.requireRole("admin"), Effect.succeed("ok"))
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const requireRole = (role: string): Effect.Effect<Principal, UnauthorizedError | ForbiddenError> =>
  Effect.flatMap(requireAuth, (principal) =>
    hasRole(principal.roles, role)
      ? Effect.succeed(principal)
      : SecurityEvents.refusing(
        { event: "auth.forbidden", reason: "role_missing", subject: principal.subject, required: role },
        new ForbiddenError({ message: "Insufficient permissions", details: { required_role: role } })
      ))

/**
 * The current principal when it has the permission (wildcards included), else 403 (401 when unauthenticated).
 *
 * @since 0.1.0
 * @category guards
 */
export const requirePermission = (permission: string): Effect.Effect<Principal, UnauthorizedError | ForbiddenError> =>
  Effect.flatMap(requireAuth, (principal) =>
    hasPermission(principal.permissions, permission)
      ? Effect.succeed(principal)
      : SecurityEvents.refusing(
        { event: "auth.forbidden", reason: "permission_missing", subject: principal.subject, required: permission },
        new ForbiddenError({ message: "Insufficient permissions", details: { required_permission: permission } })
      ))
