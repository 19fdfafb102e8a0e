/**
 * `npm start`: the example services on embedded defaults (PGlite for PostgreSQL, the in-memory bus), in one
 * process so that events flow from the catalog service to the notification service without a broker.
 *
 * Try:
 *   M=7c9e6679-7425-40de-944b-e07fc1f90ae7
 *   curl -s -XPOST localhost:8010/api/v1/merchants/$M/syncs -H 'content-type: application/json' -d '{"source":"shopify"}'
 *   curl -s "localhost:8010/api/v1/merchants/$M/syncs?page=1&limit=10"
 *   curl -s localhost:8010/api/v1/ready
 *   curl -s localhost:8010/metrics
 */
// The module, not the "@effect/platform-node" barrel: the barrel loads the platform's HTTP client (undici) as well.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Http, makeGlamLive } from "@glam/shared"
import { Layer } from "effect"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { CatalogHttpLive, migrations } from "./catalog-service.js"
import { NotificationConsumerLive } from "./notification-service.js"

// The examples folder, from this file or from its compiled copy in .glam/ (`npm start`).
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "examples")

const ServicesLive = Layer.mergeAll(CatalogHttpLive, NotificationConsumerLive).pipe(
  Layer.provide(Http.layerServer)
)

ServicesLive.pipe(
  Layer.provide(makeGlamLive({ service: "catalog-service", root, migrations })),
  Layer.launch,
  // GlamLive installs the service's logger (the seed's console format in dev, JSON lines in prod).
  NodeRuntime.runMain({ disablePrettyLogger: true })
)
