/**
 * The catalog service: an HTTP API over a repository of catalog syncs that publishes `evt.catalog.sync_started`
 * when a sync is requested, through the transactional outbox: the sync and its event are written in one
 * transaction, and the outbox relay (part of GlamLive) publishes the event once it is committed.
 *
 *   POST /api/v1/merchants/:merchant_id/syncs       {"source": "shopify", "sync_type": "full"}
 *   GET  /api/v1/merchants/:merchant_id/syncs?page=1&limit=20
 *   GET  /api/v1/merchants/:merchant_id/syncs/:id
 *
 * Syncs belong to a merchant (the `merchant_id` column makes the model a tenant model), so every repository
 * call runs for the merchant of the route.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as Model from "@effect/sql/Model"
import { Errors, Events, Http, Sql } from "@glam/shared"
import { Effect, Layer, Schema } from "effect"

/** A catalog sync, as stored in the `syncs` table. */
export class CatalogSync extends Model.Class<CatalogSync>("CatalogSync")({
  id: Model.GeneratedByApp(Schema.UUID),
  merchant_id: Schema.UUID,
  source: Schema.String,
  sync_type: Schema.Literal("full", "incremental"),
  status: Schema.Literal("started", "completed", "failed"),
  ...Sql.ModelMixins.Timestamps
}) {}

/** The migrations of this service, applied at startup (`database.migrate_on_start` in its config). */
export const migrations = Sql.Migrations.fromRecord({
  "0001_outbox": Sql.OutboxInboxTables.outboxMigration,
  "0002_syncs": `CREATE TABLE IF NOT EXISTS syncs (
    id uuid CONSTRAINT ${Sql.ModelMixins.naming.pk("syncs")} PRIMARY KEY,
    source text NOT NULL,
    sync_type text NOT NULL,
    status text NOT NULL,
    ${Sql.ModelMixins.mixinColumns({ timestamps: true })},
    merchant_id uuid NOT NULL
  );
  CREATE INDEX IF NOT EXISTS ${Sql.ModelMixins.naming.ix("syncs", "merchant_id")} ON syncs (merchant_id);`
})

const StartSync = Schema.Struct({
  source: Schema.NonEmptyTrimmedString,
  sync_type: Schema.optionalWith(Schema.Literal("full", "incremental"), { default: () => "full" as const })
})

const encodeSync = Schema.encode(CatalogSync.json)

const MerchantPath = Schema.Struct({ merchant_id: Schema.UUID })

/** Runs a handler for the merchant named by the route. */
const forMerchant = <A, E, R>(handler: (merchantId: string) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(
    Http.HttpErrors.decodePath(Schema.Struct({ ...MerchantPath.fields, id: Schema.optional(Schema.String) })),
    ({ merchant_id }) => handler(merchant_id).pipe(Sql.Repository.withTenant({ merchant_id }))
  )

/** The service's routes (served by `CatalogHttpLive`), for a host that serves them with its own middleware. */
export const router = Effect.gen(function*() {
  const syncs = yield* Sql.Repository.make(CatalogSync, { table: "syncs", id: "id" })

  return HttpRouter.empty.pipe(
    HttpRouter.post(
      "/api/v1/merchants/:merchant_id/syncs",
      forMerchant((merchant_id) =>
        Effect.gen(function*() {
          const body = yield* Http.HttpErrors.decodeBody(StartSync)
          // The row and its event commit together (or not at all); the relay publishes the event after the commit.
          const sync = yield* Effect.gen(function*() {
            const sync = yield* syncs.insert(
              CatalogSync.insert.make({ ...body, merchant_id, id: crypto.randomUUID(), status: "started" })
            )
            yield* Sql.OutboxRelay.enqueue(Events.CatalogEvents.SyncStarted, {
              merchant_id: sync.merchant_id,
              sync_id: sync.id,
              source: sync.source,
              sync_type: sync.sync_type
            })
            return sync
          }).pipe(Sql.transaction())
          return yield* Http.ApiEnvelope.success(yield* encodeSync(sync), { status: 201 })
        })
      )
    ),
    HttpRouter.get(
      "/api/v1/merchants/:merchant_id/syncs",
      forMerchant(() =>
        Effect.gen(function*() {
          const query = yield* Http.HttpErrors.decodeQuery(Http.Pagination.PaginationParams)
          const page = yield* syncs.paginate({ ...query, orderBy: { column: "created_at", direction: "desc" } })
          const items = yield* Effect.forEach(page.items, (item) => encodeSync(item))
          return yield* Http.ApiEnvelope.paginated({ ...page, items })
        })
      )
    ),
    HttpRouter.get(
      "/api/v1/merchants/:merchant_id/syncs/:id",
      forMerchant(() =>
        Effect.gen(function*() {
          const { id } = yield* Http.HttpErrors.decodePath(Schema.Struct({ ...MerchantPath.fields, id: Schema.UUID }))
          const sync = yield* syncs.findById(id).pipe(
            Effect.catchTag("NotFoundError", () =>
              new Errors.CatalogErrors.SyncNotFoundError({
                message: `Sync ${id} not found`,
                details: { resource_id: id }
              }))
          )
          return yield* Http.ApiEnvelope.success(yield* encodeSync(sync))
        })
      )
    )
  )
})

/**
 * The catalog service's HTTP server. `/api/v1/ready` answers with the checks GlamLive registers: the database, the
 * bus and the outbox backlog.
 */
export const CatalogHttpLive = Layer.unwrapEffect(Effect.map(router, (app) => Http.serve(app)))
