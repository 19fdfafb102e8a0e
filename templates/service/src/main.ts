/**
 * Starts __SERVICE_NAME__: `node dist/main.js` (configuration under the working directory). SIGTERM stops it
 * in order: readiness reports 503, in-flight work finishes, the outbox is flushed, the bus and the pool close.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Http } from "@glam/shared"
import { Layer } from "effect"
import { AppLive, glamLive } from "./app.js"

AppLive.pipe(
  Layer.provide(Http.layerServer),
  Layer.provide(glamLive()),
  Layer.launch,
  // GlamLive installs the service's logger (the console format in development, JSON lines in prod).
  NodeRuntime.runMain({ disablePrettyLogger: true })
)
