/**
 * The Bus: typed publish and durable subscribers on NATS JetStream, or in memory with the same semantics.
 *
 * @since 0.1.0
 */

/**
 * The Bus service, its models and accessors.
 *
 * @since 0.1.0
 */
export * from "./Bus.js"

/**
 * The `nats.*` configuration section.
 *
 * @since 0.1.0
 */
export * as BusConfig from "./BusConfig.js"

/**
 * The Bus's `bus_*` metrics.
 *
 * @since 0.2.0
 */
export * as BusMetrics from "./BusMetrics.js"

/**
 * The in-memory Bus (`layerMemory`).
 *
 * @since 0.1.0
 */
export * as BusMemory from "./BusMemory.js"

/**
 * Core NATS behind the typed definitions: fire-and-forget publish, queue groups, request/reply (at most once).
 *
 * @since 0.2.0
 */
export * as CoreNats from "./CoreNats.js"

/**
 * The dead-letter stream and its records.
 *
 * @since 0.1.0
 */
export * as DeadLetter from "./DeadLetter.js"

/**
 * Families of definitions read by one durable consumer (`Bus.subscribeFamily`).
 *
 * @since 0.2.0
 */
export * as Family from "./Family.js"

/**
 * The JetStream Bus (`layer`, `layerConfig`).
 *
 * @since 0.1.0
 */
export * as JetStream from "./JetStream.js"

/**
 * The streams a service may use, and ensuring them on JetStream at startup.
 *
 * @since 0.1.0
 */
export * as JetStreamSetup from "./JetStreamSetup.js"

/**
 * The subscriber runtime.
 *
 * @since 0.1.0
 */
export * as Subscriber from "./Subscriber.js"
