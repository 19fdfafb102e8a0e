/**
 * The catalog domain (`events/catalog/types.py`): 5 commands and 6 events in the CATALOG stream.
 *
 * The Python events carried `data: Dict[str, Any]`; their payloads stay open objects here (unknown keys are
 * kept), with the keys the catalog service is known to send typed. `sync_failed`'s `error_message` and
 * `ai_enriched`'s `enrichment_details` were wrapper fields that Python's `to_event_dict` dropped; they are
 * optional payload keys here.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Events from "../Events.js"
import { JsonObject, optionalNullable, Uuid } from "../PayloadSchemas.js"

const Open = Schema.Record({ key: Schema.String, value: Schema.Unknown })

const ItemsPayload = (identifier: string, description: string) =>
  Schema.Struct({
    merchant_id: Uuid,
    items: Schema.Array(JsonObject),
    job_id: optionalNullable(Schema.String)
  }).annotations({ identifier, description })

/**
 * Payload of `cmd.catalog.sync_initial`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const SyncInitialPayload = Schema.Struct({
  merchant_id: Uuid,
  source: Schema.String.annotations({ description: "e.g. shopify, woocommerce" }),
  sync_type: Schema.String.annotations({ description: "e.g. full, incremental" }),
  webhook_url: optionalNullable(Schema.String)
}).annotations({ identifier: "CatalogSyncInitialPayload", description: "Initial catalog sync" })

/**
 * Payload of `cmd.catalog.sync_update`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const SyncUpdatePayload = ItemsPayload("CatalogSyncUpdatePayload", "Items to update")

/**
 * Payload of `cmd.catalog.process_images`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const ProcessImagesPayload = ItemsPayload("CatalogProcessImagesPayload", "Items with images to process")

/**
 * Payload of `cmd.catalog.analyze_items`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const AnalyzeItemsPayload = ItemsPayload("CatalogAnalyzeItemsPayload", "Items to analyze")

/**
 * Payload of `cmd.catalog.enrich_with_ai`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const EnrichWithAiPayload = ItemsPayload("CatalogEnrichWithAIPayload", "Items to enrich with AI")

/**
 * Payload of `evt.catalog.sync_started`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const SyncStartedPayload = Schema.Struct({
  merchant_id: Uuid,
  sync_id: Schema.String,
  source: Schema.optional(Schema.String),
  sync_type: Schema.optional(Schema.String),
  item_count: Schema.optional(Schema.Int)
}, Open).annotations({ identifier: "CatalogSyncStartedPayload", description: "A catalog sync started" })

const EventPayload = (identifier: string, description: string) =>
  Schema.Struct({ merchant_id: Schema.optional(Uuid) }, Open).annotations({ identifier, description })

/**
 * Payload of `evt.catalog.sync_completed`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const SyncCompletedPayload = EventPayload("CatalogSyncCompletedPayload", "A catalog sync completed")

/**
 * Payload of `evt.catalog.sync_failed`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const SyncFailedPayload = Schema.Struct({
  merchant_id: Schema.optional(Uuid),
  error_message: optionalNullable(Schema.String)
}, Open).annotations({ identifier: "CatalogSyncFailedPayload", description: "A catalog sync failed" })

/**
 * Payload of `evt.catalog.images_processed`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const ImagesProcessedPayload = EventPayload("CatalogImagesProcessedPayload", "Catalog images processed")

/**
 * Payload of `evt.catalog.items_analyzed`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const ItemsAnalyzedPayload = EventPayload("CatalogItemsAnalyzedPayload", "Catalog items analyzed")

/**
 * Payload of `evt.catalog.ai_enriched`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const AiEnrichedPayload = Schema.Struct({
  merchant_id: Schema.optional(Uuid),
  enrichment_details: optionalNullable(JsonObject)
}, Open).annotations({ identifier: "CatalogAIEnrichedPayload", description: "Catalog items enriched with AI" })

/**
 * `cmd.catalog.sync_initial`: start the initial sync of a merchant's catalog.
 *
 * @since 0.1.0
 * @category commands
 */
export const SyncInitial = Events.command("catalog.sync_initial", SyncInitialPayload, {
  description: "Initiate the initial catalog sync"
})

/**
 * `cmd.catalog.sync_update`: update the catalog with new items.
 *
 * @since 0.1.0
 * @category commands
 */
export const SyncUpdate = Events.command("catalog.sync_update", SyncUpdatePayload, {
  description: "Update the catalog with new items"
})

/**
 * `cmd.catalog.process_images`: process catalog images.
 *
 * @since 0.1.0
 * @category commands
 */
export const ProcessImages = Events.command("catalog.process_images", ProcessImagesPayload, {
  description: "Process catalog images"
})

/**
 * `cmd.catalog.analyze_items`: analyze catalog items.
 *
 * @since 0.1.0
 * @category commands
 */
export const AnalyzeItems = Events.command("catalog.analyze_items", AnalyzeItemsPayload, {
  description: "Analyze catalog items"
})

/**
 * `cmd.catalog.enrich_with_ai`: enrich the catalog with AI.
 *
 * @since 0.1.0
 * @category commands
 */
export const EnrichWithAi = Events.command("catalog.enrich_with_ai", EnrichWithAiPayload, {
  description: "Enrich the catalog with AI"
})

/**
 * `evt.catalog.sync_started`.
 *
 * @since 0.1.0
 * @category events
 */
export const SyncStarted = Events.event("catalog.sync_started", SyncStartedPayload, {
  description: "Emitted when a catalog sync starts"
})

/**
 * `evt.catalog.sync_completed`.
 *
 * @since 0.1.0
 * @category events
 */
export const SyncCompleted = Events.event("catalog.sync_completed", SyncCompletedPayload, {
  description: "Emitted when a catalog sync completes"
})

/**
 * `evt.catalog.sync_failed`.
 *
 * @since 0.1.0
 * @category events
 */
export const SyncFailed = Events.event("catalog.sync_failed", SyncFailedPayload, {
  description: "Emitted when a catalog sync fails"
})

/**
 * `evt.catalog.images_processed`.
 *
 * @since 0.1.0
 * @category events
 */
export const ImagesProcessed = Events.event("catalog.images_processed", ImagesProcessedPayload, {
  description: "Emitted when catalog images are processed"
})

/**
 * `evt.catalog.items_analyzed`.
 *
 * @since 0.1.0
 * @category events
 */
export const ItemsAnalyzed = Events.event("catalog.items_analyzed", ItemsAnalyzedPayload, {
  description: "Emitted when catalog items are analyzed"
})

/**
 * `evt.catalog.ai_enriched`.
 *
 * @since 0.1.0
 * @category events
 */
export const AiEnriched = Events.event("catalog.ai_enriched", AiEnrichedPayload, {
  description: "Emitted when catalog items are enriched with AI"
})

/**
 * Every catalog definition.
 *
 * @since 0.1.0
 * @category catalogue
 */
export const definitions: ReadonlyArray<Events.EventDefinition.Any> = [
  SyncInitial,
  SyncUpdate,
  ProcessImages,
  AnalyzeItems,
  EnrichWithAi,
  SyncStarted,
  SyncCompleted,
  SyncFailed,
  ImagesProcessed,
  ItemsAnalyzed,
  AiEnriched
]
