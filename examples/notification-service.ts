/**
 * The notification service: consumes `evt.catalog.sync_started` with a durable consumer and would send the
 * merchant an email; here it logs what it would send. Correlation and causation ids are restored from the
 * event, so its log lines carry the id of the HTTP request that caused them.
 */
import { Bus, Events } from "@glam/shared"
import { Effect, Layer } from "effect"

/** The subscription, alive while the layer is. */
export const NotificationConsumerLive = Layer.scopedDiscard(
  Bus.subscribe(
    Events.CatalogEvents.SyncStarted,
    { durable: "notification-service" },
    (event) =>
      Effect.logInfo(
        `would email merchant ${event.payload.merchant_id}: ${event.payload.source} sync ${event.payload.sync_id} started`
      ).pipe(Effect.annotateLogs({ event_id: event.envelope.event_id }))
  )
)
