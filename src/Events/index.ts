/**
 * Events: the envelope, typed event/command definitions, streams, catalogues and idempotency keys. No transport.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as AsyncApi from "./AsyncApi.js"

/**
 * @since 0.1.0
 */
export * as BodyFormat from "./BodyFormat.js"

/**
 * @since 0.1.0
 */
export * as CatalogEvents from "./CatalogEvents.js"

/**
 * @since 0.1.0
 */
export * as CreditEvents from "./CreditEvents.js"

/**
 * @since 0.1.0
 */
export * as EventCatalogue from "./EventCatalogue.js"

/**
 * @since 0.1.0
 */
export * as EventContext from "./EventContext.js"

/**
 * @since 0.1.0
 */
export * as EventDefinition from "./EventDefinition.js"

/**
 * @since 0.1.0
 */
export * as EventEnvelope from "./EventEnvelope.js"

/**
 * @since 0.1.0
 */
export * as EventTimestamp from "./EventTimestamp.js"

/**
 * @since 0.1.0
 */
export * as IdempotencyKey from "./IdempotencyKey.js"

/**
 * @since 0.1.0
 */
export * as NotificationEvents from "./NotificationEvents.js"

/**
 * @since 0.1.0
 */
export * as PayloadSchemas from "./PayloadSchemas.js"

/**
 * @since 0.1.0
 */
export * as SchedulerEvents from "./SchedulerEvents.js"

/**
 * @since 0.1.0
 */
export * as Streams from "./Streams.js"

/**
 * @since 0.1.0
 */
export * as WebhookEvents from "./WebhookEvents.js"

/**
 * Defines an event (`evt.` added when missing); see `EventDefinition.event`.
 *
 * @since 0.1.0
 * @category constructors
 */
export { command, event, evolve } from "./EventDefinition.js"
