/**
 * The errors a service uses: the `GlamError` model and its class constructors, the common domain errors
 * (`NotFoundError`, `ValidationError`, `ConflictError`...) and the infrastructure errors (`DatabaseError`,
 * `MessageBusError`...), each with its wire code and HTTP status.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Errors } from "@glam/shared"
 *
 * const findItem = (id: string) => Effect.fail(new Errors.NotFoundError({ message: `item ${id} not found` }))
 *
 * const recovered = findItem("42").pipe(Effect.catchTag("NotFoundError", () => Effect.succeed(undefined)))
 * ```
 *
 * @since 0.1.0
 */

/**
 * The shape every error shares and the constructors of error classes.
 *
 * @since 0.1.0
 */
export * from "./GlamError.js"

/**
 * The common domain errors and the generic infrastructure and internal errors.
 *
 * @since 0.1.0
 */
export * from "./CommonErrors.js"

/**
 * The errors of databases, caches, storage, upstream services and the bus.
 *
 * @since 0.1.0
 */
export * from "./InfrastructureErrors.js"
