/**
 * The events the credit service consumes (`events/credit/types.py`): `evt.order.updated`,
 * `evt.account.created`, `evt.subscription.renewed` and `evt.merchant.created`.
 *
 * The seed defines no payload model for them, so their payloads are open JSON objects. Three of the four
 * subjects have a domain the Python `Streams` enum does not serve (`order`, `account`, `subscription`): the
 * Python subscriber had to name a stream by hand. Here they name theirs: `ORDER`, `ACCOUNT` and `SUBSCRIPTION`,
 * streams in the same one-per-domain shape (`cmd.<domain>.>`, `evt.<domain>.>`), exported with {@link registry}
 * so a service can ensure them.
 *
 * @since 0.1.0
 */
import * as Events from "../Events.js"
import { JsonObject } from "../PayloadSchemas.js"
import * as Streams from "../Streams.js"

/**
 * The stream of `order` subjects (not in the Python enum).
 *
 * @since 0.1.0
 * @category streams
 */
export const ORDER: Streams.StreamDefinition = Streams.make("ORDER", { description: "Shop orders" })

/**
 * The stream of `account` subjects (not in the Python enum).
 *
 * @since 0.1.0
 * @category streams
 */
export const ACCOUNT: Streams.StreamDefinition = Streams.make("ACCOUNT", { description: "Accounts" })

/**
 * The stream of `subscription` subjects (not in the Python enum).
 *
 * @since 0.1.0
 * @category streams
 */
export const SUBSCRIPTION: Streams.StreamDefinition = Streams.make("SUBSCRIPTION", { description: "Subscriptions" })

/**
 * The ten domain streams plus ORDER, ACCOUNT and SUBSCRIPTION.
 *
 * @since 0.1.0
 * @category streams
 */
export const registry: Streams.StreamRegistry = Streams.extend(Streams.defaultRegistry, ORDER, ACCOUNT, SUBSCRIPTION)

// The credit service's input events carry any JSON object (the seed defines no model).
const Payload = JsonObject

/**
 * `evt.order.updated` (stream ORDER).
 *
 * @since 0.1.0
 * @category events
 */
export const OrderUpdated = Events.event("order.updated", Payload, {
  stream: ORDER,
  description: "An order was updated"
})

/**
 * `evt.account.created` (stream ACCOUNT).
 *
 * @since 0.1.0
 * @category events
 */
export const AccountCreated = Events.event("account.created", Payload, {
  stream: ACCOUNT,
  description: "An account was created"
})

/**
 * `evt.subscription.renewed` (stream SUBSCRIPTION).
 *
 * @since 0.1.0
 * @category events
 */
export const SubscriptionRenewed = Events.event("subscription.renewed", Payload, {
  stream: SUBSCRIPTION,
  description: "A subscription was renewed"
})

/**
 * `evt.merchant.created` (stream MERCHANT).
 *
 * @since 0.1.0
 * @category events
 */
export const MerchantCreated = Events.event("merchant.created", Payload, {
  description: "A merchant was created"
})

/**
 * Every credit definition.
 *
 * @since 0.1.0
 * @category catalogue
 */
export const definitions: ReadonlyArray<Events.EventDefinition.Any> = [
  OrderUpdated,
  AccountCreated,
  SubscriptionRenewed,
  MerchantCreated
]
