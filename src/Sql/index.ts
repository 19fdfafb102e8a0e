/**
 * `@glam/shared/Sql`: PostgreSQL for GLAM services: the `PgClient` from config or embedded, typed errors,
 * transactions, repositories, mixins, migrations, the outbox and inbox tables, and the outbox relay.
 *
 * @since 0.1.0
 */

/**
 * The `PgClient` from options or configuration, its health check, and `transaction`.
 *
 * @since 0.1.0
 */
export * from "./Sql.js"

/**
 * The `database` configuration section.
 *
 * @since 0.1.0
 */
export * as SqlConfig from "./SqlConfig.js"

/**
 * Embedded PostgreSQL (PGlite) behind the wire protocol.
 *
 * @since 0.1.0
 */
export * as SqlEmbedded from "./SqlEmbedded.js"

/**
 * Driver failures classified into tagged errors.
 *
 * @since 0.1.0
 */
export * as SqlErrors from "./SqlErrors.js"

/**
 * Migrations on `PgMigrator`: sources, `migrate`, status.
 *
 * @since 0.1.0
 */
export * as Migrations from "./Migrations.js"

/**
 * The DDL of the outbox and inbox tables.
 *
 * @since 0.1.0
 */
export * as OutboxInboxTables from "./OutboxInboxTables.js"

/**
 * Typed repositories over `Model` classes.
 *
 * @since 0.1.0
 */
export * as Repository from "./Repository.js"

/**
 * Common model fields (ids, timestamps, soft delete).
 *
 * @since 0.1.0
 */
export * as ModelMixins from "./ModelMixins.js"

/**
 * Writing events to the outbox table in the caller's transaction.
 *
 * @since 0.1.0
 */
export * as Outbox from "./Outbox.js"

/**
 * The idempotency table of consumed messages.
 *
 * @since 0.1.0
 */
export * as Inbox from "./Inbox.js"

/**
 * The relay that publishes the outbox to the Bus.
 *
 * @since 0.1.0
 */
export * as OutboxRelay from "./OutboxRelay.js"

/**
 * The Sql module's metrics: `sql_*` and `outbox_*`.
 *
 * @since 0.2.0
 */
export * as SqlMetrics from "./SqlMetrics.js"
