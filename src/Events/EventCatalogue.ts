/**
 * The whole catalogue of seed 002: every definition of the catalog, credit, notification and scheduler domains,
 * and every stream they (and the webhook domain) need.
 *
 * @since 0.1.0
 */
import * as CatalogEvents from "./catalogue/CatalogEvents.js"
import * as CreditEvents from "./catalogue/CreditEvents.js"
import * as NotificationEvents from "./catalogue/NotificationEvents.js"
import * as SchedulerEvents from "./catalogue/SchedulerEvents.js"
import type * as Events from "./Events.js"
import * as Streams from "./Streams.js"

/**
 * Every definition of the catalogue.
 *
 * @since 0.1.0
 * @category catalogue
 */
export const definitions: ReadonlyArray<Events.EventDefinition.Any> = [
  ...CatalogEvents.definitions,
  ...CreditEvents.definitions,
  ...NotificationEvents.definitions,
  ...SchedulerEvents.definitions
]

/**
 * Every stream a fleet running the catalogue needs: the ten domain streams and those of the credit inputs
 * (ORDER, ACCOUNT, SUBSCRIPTION). These are the platform's streams of `makeGlamLive`: a service uses them without
 * declaring them, and its Bus ensures each one when the service first uses it.
 *
 * @since 0.1.0
 * @category catalogue
 */
export const streams: ReadonlyArray<Streams.StreamDefinition> = CreditEvents.registry.streams
