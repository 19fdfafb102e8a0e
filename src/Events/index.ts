/**
 * Events: typed event/command definitions, the envelope, streams, idempotency keys, and the GLAM platform's own
 * definitions under `catalogue/`. No transport.
 *
 * @since 0.1.0
 */

/**
 * Typed event and command definitions (`event`, `command`, `evolve`) and payload encoding.
 *
 * @since 0.1.0
 */
export * from "./Events.js"

/**
 * The AsyncAPI document of a set of definitions.
 *
 * @since 0.1.0
 */
export * as AsyncApi from "./AsyncApi.js"

/**
 * Body formats: the GLAM envelope or the healthcare fleet's flat body, written and read by the definitions.
 *
 * @since 0.2.0
 */
export * as BodyFormat from "./BodyFormat.js"

/**
 * Every built-in definition, by subject.
 *
 * @since 0.1.0
 */
export * as EventCatalogue from "./EventCatalogue.js"

/**
 * The envelope and ids of the message being handled.
 *
 * @since 0.1.0
 */
export * as EventContext from "./EventContext.js"

/**
 * The envelope every message carries, its wire form and headers.
 *
 * @since 0.1.0
 */
export * as EventEnvelope from "./EventEnvelope.js"

/**
 * Envelope timestamps as the Python services write and read them.
 *
 * @since 0.1.0
 */
export * as EventTimestamp from "./EventTimestamp.js"

/**
 * Deterministic idempotency keys.
 *
 * @since 0.1.0
 */
export * as IdempotencyKey from "./IdempotencyKey.js"

/**
 * Schemas shared by payloads (UUID, JSON object, date-time).
 *
 * @since 0.1.0
 */
export * as PayloadSchemas from "./PayloadSchemas.js"

/**
 * The JetStream streams and the subjects each holds.
 *
 * @since 0.1.0
 */
export * as Streams from "./Streams.js"

/**
 * The GLAM platform's catalog events.
 *
 * @since 0.1.0
 */
export * as CatalogEvents from "./catalogue/CatalogEvents.js"

/**
 * The GLAM platform's credit events.
 *
 * @since 0.1.0
 */
export * as CreditEvents from "./catalogue/CreditEvents.js"

/**
 * The GLAM platform's notification events and commands.
 *
 * @since 0.1.0
 */
export * as NotificationEvents from "./catalogue/NotificationEvents.js"

/**
 * The GLAM platform's scheduler events.
 *
 * @since 0.1.0
 */
export * as SchedulerEvents from "./catalogue/SchedulerEvents.js"

/**
 * The GLAM platform's webhook events.
 *
 * @since 0.1.0
 */
export * as WebhookEvents from "./catalogue/WebhookEvents.js"
