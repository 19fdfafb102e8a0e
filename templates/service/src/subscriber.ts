/**
 * A durable consumer of `item_created`: every instance of the service shares it, so each event is handled once
 * by one of them. The handler's result decides the acknowledgement: success acks, a retryable failure is
 * retried with backoff, anything else is dead-lettered with its reason.
 */
import { Bus } from "@glam/shared"
import { Effect, Layer } from "effect"
import { ItemCreated } from "./domain.js"

export const ItemCreatedSubscriber = Layer.scopedDiscard(
  Bus.subscribe(
    ItemCreated,
    { durable: "__SERVICE_NAME__" },
    (event) =>
      Effect.logInfo(`item ${event.payload.item_id} created: ${event.payload.name}`).pipe(
        Effect.annotateLogs({ event_id: event.envelope.event_id })
      )
  )
)
