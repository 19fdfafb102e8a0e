/**
 * The example catalog service (`examples/catalog-service.ts`: its routes and migrations) as the hostile-HTTP
 * scenario's target: served with the toolkit's whole HTTP stack (`Http.serve`) on the test's port, on the test-owned
 * PostgreSQL, with JWT authentication (`auth.secret`, HS256) and its writes behind `Http.JwtAuth.requireAuth`.
 */
import { HttpRouter, HttpServerRequest } from "@effect/platform"
import { ConfigProvider, Effect, Layer } from "effect"
import { migrations, router as catalogRouter } from "../../../examples/catalog-service.js"
import * as Http from "../../../src/Http/index.js"
import * as Sql from "../../../src/Sql/index.js"
import { runWorker, settings, sqlLayer, type WorkerSettings } from "./common.js"

interface HttpSettings extends WorkerSettings {
  readonly port: number
  readonly secret: string
}

const s = settings<HttpSettings>()

// Reads pass unauthenticated; anything else needs a verified token (a bad one is refused by the stack before this).
const writesNeedAuth = Effect.map(
  catalogRouter,
  (routes) =>
    HttpRouter.use(
      routes,
      (app) =>
        Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
          request.method === "GET" || request.method === "HEAD" ? app : Effect.zipRight(Http.JwtAuth.requireAuth, app))
    )
)

const ServiceLive = Layer.unwrapEffect(Effect.map(writesNeedAuth, (app) => Http.serve(app))).pipe(
  Layer.provide([Http.layerServer, Http.Readiness.layer, Http.JwtAuth.layerConfig])
)

const config = ConfigProvider.fromJson({
  service: { name: "catalog-service", version: "0.1.0" },
  http: { host: "127.0.0.1", port: s.port },
  auth: { secret: s.secret }
})

// The test waits for the port to answer.
const program = Effect.zipRight(Sql.Migrations.migrate({ loader: migrations }), Layer.launch(ServiceLive))

runWorker(
  program,
  Layer.mergeAll(sqlLayer(s), Sql.Outbox.layerProducer({ serviceName: s.service })).pipe(
    Layer.provideMerge(Layer.setConfigProvider(config))
  )
)
