/**
 * The webhook domain (`events/webhook/`): the seed defines its stream, WEBHOOKS, and no event types.
 *
 * As in Python, the domain token is the lower-cased stream name: webhook subjects are `cmd.webhooks.<...>` and
 * `evt.webhooks.<...>` (plural); `evt.webhook.<...>` has no stream and is rejected at definition.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { event, WebhookEvents } from "@glam/shared/Events"
 *
 * export const Received = event(WebhookEvents.subject("shopify.orders_create"), Schema.Struct({ topic: Schema.String }))
 * // "evt.webhooks.shopify.orders_create", stream WEBHOOKS
 * ```
 *
 * @since 0.1.0
 */
import * as Streams from "../Streams.js"

/**
 * The subject token of the webhook domain, `webhooks`.
 *
 * @since 0.1.0
 * @category streams
 */
export const domain: string = Streams.WEBHOOKS.domain

/**
 * A subject of the webhook domain without its `cmd.`/`evt.` prefix: `subject("x.y")` is `"webhooks.x.y"`.
 *
 * @since 0.1.0
 * @category subjects
 */
export const subject = (name: string): string => `${domain}.${name}`
