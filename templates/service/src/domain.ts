/**
 * The domain of __SERVICE_NAME__: its stream, the Item resource with its typed not-found error, and the event it
 * publishes when an item is created.
 */
import { Model } from "@effect/sql"
import { Errors, Events, Sql } from "@glam/shared"
import { Schema } from "effect"

/** The service's own stream (`cmd.__EVENT_DOMAIN__.>` and `evt.__EVENT_DOMAIN__.>`), created at startup when missing. */
export const Stream = Events.Streams.make("__STREAM_NAME__")

/** An item, as stored in the `items` table. */
export class Item extends Model.Class<Item>("Item")({
  id: Model.GeneratedByApp(Schema.UUID),
  name: Schema.NonEmptyTrimmedString.pipe(Schema.maxLength(200)),
  ...Sql.ModelMixins.Timestamps
}) {}

/** What a client sends to create an item. */
export const CreateItem = Schema.Struct({ name: Item.fields.name })

/** No item has the id asked for: 404 `ITEM_NOT_FOUND`. */
export class ItemNotFoundError extends Errors.DomainErrorClass<ItemNotFoundError>()("ItemNotFoundError", {
  code: "ITEM_NOT_FOUND",
  status: 404,
  message: "Item not found",
  details: { resource_id: Errors.OptionalString }
}) {}

/** `evt.__EVENT_DOMAIN__.item_created`: written through the outbox in the transaction that creates the item. */
export const ItemCreated = Events.event(
  "__EVENT_DOMAIN__.item_created",
  Schema.Struct({ item_id: Schema.UUID, name: Schema.String }),
  { stream: Stream }
)
