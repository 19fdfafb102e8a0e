/**
 * `@glam/shared/Sql`: PostgreSQL for GLAM services: the `PgClient` from config or embedded, typed errors,
 * transactions, repositories, mixins, migrations, the outbox and inbox tables, and the outbox relay.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * from "./SqlConfig.js"

/**
 * @since 0.1.0
 */
export * from "./SqlLayer.js"

/**
 * @since 0.1.0
 */
export * from "./SqlEmbedded.js"

/**
 * @since 0.1.0
 */
export * from "./SqlErrors.js"

/**
 * @since 0.1.0
 */
export * from "./SqlTransaction.js"

/**
 * @since 0.1.0
 */
export * from "./Migrations.js"

/**
 * @since 0.1.0
 */
export * from "./OutboxInboxTables.js"

/**
 * @since 0.1.0
 */
export * as Repository from "./Repository.js"

/**
 * @since 0.1.0
 */
export * as ModelMixins from "./ModelMixins.js"

/**
 * @since 0.1.0
 */
export * as Outbox from "./Outbox.js"

/**
 * @since 0.1.0
 */
export * as Inbox from "./Inbox.js"

/**
 * @since 0.1.0
 */
export * as OutboxRelay from "./OutboxRelay.js"

/**
 * @since 0.2.0
 */
export * as SqlMetrics from "./SqlMetrics.js"
