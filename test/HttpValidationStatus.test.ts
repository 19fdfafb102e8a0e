/**
 * `http.validation_status`: every `VALIDATION_ERROR` answer has the configured status (422, FastAPI's, by default; 400
 * for the energy fleet), on the router and on `HttpApi`, for a handler's `ValidationError` and for every request
 * decoding failure; a `ServiceClient` reads either as a `ValidationError`. A JSON body that is not UTF-8 is FastAPI's
 * 400 `HTTP_400` whichever the setting. Over real servers.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpRouter from "@effect/platform/HttpRouter"
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { ProfileCreationFailedError } from "../src/Errors/catalogue/ProfileErrors.js"
import { ValidationError } from "../src/Errors/CommonErrors.js"
import * as ApiEnvelope from "../src/Http/ApiEnvelope.js"
import * as Http from "../src/Http/Http.js"
import * as HttpConfig from "../src/Http/HttpConfig.js"
import * as HttpErrors from "../src/Http/HttpErrors.js"
import * as JwtAuth from "../src/Http/JwtAuth.js"
import * as ServiceClient from "../src/Http/ServiceClient.js"
import { ApiLive } from "./fixtures/http/api.js"
import { fetchFrom, jsonOf, serve, type Served } from "./fixtures/http/server.js"

const Body = Schema.Struct({ name: Schema.String.pipe(Schema.minLength(1)) })

const router = HttpRouter.empty.pipe(
  HttpRouter.post("/body", Effect.flatMap(HttpErrors.decodeBody(Body), () => ApiEnvelope.success({ ok: true }))),
  HttpRouter.get(
    "/query",
    Effect.flatMap(
      HttpErrors.decodeQuery(Schema.Struct({ limit: Schema.NumberFromString })),
      () => ApiEnvelope.success({ ok: true })
    )
  ),
  HttpRouter.get(
    "/path/:id",
    Effect.flatMap(HttpErrors.decodePath(Schema.Struct({ id: Schema.UUID })), () => ApiEnvelope.success({ ok: true }))
  ),
  HttpRouter.get(
    "/headers",
    Effect.flatMap(
      HttpErrors.decodeRequest({ headers: Schema.Struct({ "x-merchant-id": Schema.UUID }) }),
      () => ApiEnvelope.success({ ok: true })
    )
  ),
  HttpRouter.get("/handler", Effect.fail(new ValidationError({ message: "Meter 7 has no tariff" }))),
  HttpRouter.get("/other-422", Effect.fail(new ProfileCreationFailedError({})))
)

const config = (validationStatus: number | undefined) => ({
  service: { name: "meter-service" },
  rate_limit: { enabled: false },
  auth: { algorithms: ["HS256"], secret: "test-secret-with-enough-length-0123456789" },
  ...(validationStatus === undefined ? {} : { http: { validation_status: validationStatus } })
})

const answer = (server: Served, path: string, init?: RequestInit) =>
  Effect.flatMap(
    fetchFrom(server, path, init),
    (res) => Effect.map(jsonOf(res), (json) => ({ status: res.status, json }))
  )

const postJson = (body: Uint8Array | string): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body
})

/** Every decoding failure of the router, and a handler's `ValidationError`: path, status, code. */
const routerFailures = (server: Served) =>
  Effect.forEach(
    [
      ["/body", postJson(JSON.stringify({ name: "" }))],
      ["/body", postJson("{\"name\":")],
      ["/query?limit=ten", undefined],
      ["/path/not-a-uuid", undefined],
      ["/headers", { headers: { "x-merchant-id": "nope" } }],
      ["/handler", undefined]
    ] as const,
    ([path, init]) => Effect.map(answer(server, path, init), (res) => [path, res.status, res.json.error.code])
  )

const latin1Json = new Uint8Array(Buffer.from("{\"name\":\"caf\u00e9\"}", "latin1"))

// A handler's declared ValidationError, another error of status 422, and a ValidationError declared as a 400.
const MeterApi = HttpApi.make("meters").add(
  HttpApiGroup.make("meters")
    .add(
      HttpApiEndpoint.get("tariff", "/meters/:id/tariff")
        .setPath(Schema.Struct({ id: Schema.NumberFromString }))
        .addSuccess(ApiEnvelope.Success(Schema.Struct({ id: Schema.Number })))
        .addError(HttpErrors.ApiError(ValidationError))
    )
    .add(
      HttpApiEndpoint.get("profile", "/meters/profile")
        .addSuccess(ApiEnvelope.Success(Schema.Struct({ id: Schema.Number })))
        .addError(HttpErrors.ApiError(ProfileCreationFailedError))
    )
)

// A service of a 400 fleet declares its ValidationError as a 400 (the whole API's union encodes it).
const DeclaredApi = HttpApi.make("declared").add(
  HttpApiGroup.make("meters").add(
    HttpApiEndpoint.get("declared", "/meters/:id/declared")
      .setPath(Schema.Struct({ id: Schema.NumberFromString }))
      .addSuccess(ApiEnvelope.Success(Schema.Struct({ id: Schema.Number })))
      .addError(HttpErrors.ApiError(ValidationError, { status: 400 }))
  )
)

const DeclaredLive = HttpApiBuilder.api(DeclaredApi).pipe(
  Layer.provide(
    HttpApiBuilder.group(
      DeclaredApi,
      "meters",
      (handlers) => handlers.handle("declared", () => Effect.fail(new ValidationError({ message: "Declared 400" })))
    )
  )
)

const MeterLive = HttpApiBuilder.api(MeterApi).pipe(
  Layer.provide(HttpApiBuilder.group(MeterApi, "meters", (handlers) =>
    handlers
      .handle("tariff", ({ path }) => Effect.fail(new ValidationError({ message: `Meter ${path.id} has no tariff` })))
      .handle("profile", () => Effect.fail(new ProfileCreationFailedError({})))))
)

const serveApp = (validationStatus: number | undefined) =>
  serve(Http.serve(router) as Layer.Layer<never, unknown>, config(validationStatus))

const serveTestApi = (validationStatus: number | undefined) =>
  serve(
    Http.serveApi().pipe(Layer.provide(ApiLive), Layer.provide(JwtAuth.layerConfig)) as Layer.Layer<never, unknown>,
    config(validationStatus)
  )

const serveMeterApi = (validationStatus: number | undefined) =>
  serve(Http.serveApi().pipe(Layer.provide(MeterLive)) as Layer.Layer<never, unknown>, config(validationStatus))

describe("http.validation_status", () => {
  it.scoped("the router: 422 by default, 400 when set, for every decoding failure and a handler's error", () =>
    Effect.gen(function*() {
      for (const [setting, status] of [[undefined, 422], [422, 422], [400, 400]] as const) {
        const server = yield* serveApp(setting)
        expect(yield* routerFailures(server)).toEqual([
          ["/body", status, "VALIDATION_ERROR"],
          ["/body", status, "VALIDATION_ERROR"],
          ["/query?limit=ten", status, "VALIDATION_ERROR"],
          ["/path/not-a-uuid", status, "VALIDATION_ERROR"],
          ["/headers", status, "VALIDATION_ERROR"],
          ["/handler", status, "VALIDATION_ERROR"]
        ])
        // Another error of status 422 keeps it.
        const other = yield* answer(server, "/other-422")
        expect([other.status, other.json.error.code]).toEqual([422, "PROFILE_CREATION_FAILED"])
      }
    }))

  it.scoped("HttpApi: decoding failures (path, query, headers, payload) and a declared ValidationError", () =>
    Effect.gen(function*() {
      for (const [setting, status] of [[undefined, 422], [400, 400]] as const) {
        const server = yield* serveTestApi(setting)
        const update = yield* answer(server, "/api/v1/items/abc?notify=maybe", {
          method: "PATCH",
          headers: { "content-type": "application/json", "x-merchant-id": "nope" },
          body: JSON.stringify({ name: "" })
        })
        expect([setting, update.status, update.json.error.code]).toEqual([setting, status, "VALIDATION_ERROR"])
        expect(
          (update.json.error.details.validation_errors as Array<{ field: string }>).map((e) => e.field.split(".")[0])
        ).toEqual(expect.arrayContaining(["path", "query", "header", "body"]))
        const malformed = yield* answer(server, "/api/v1/items", postJson("{\"name\":"))
        expect([malformed.status, malformed.json.error.code]).toEqual([status, "VALIDATION_ERROR"])
        const created = yield* answer(server, "/api/v1/items", postJson(JSON.stringify({ name: "Blush" })))
        expect(created.status).toBe(201)

        const meters = yield* serveMeterApi(setting)
        const tariff = yield* answer(meters, "/meters/7/tariff")
        expect([tariff.status, tariff.json.error]).toEqual([status, {
          code: "VALIDATION_ERROR",
          message: "Meter 7 has no tariff"
        }])
        const badPath = yield* answer(meters, "/meters/seven/tariff")
        expect([badPath.status, badPath.json.error.code]).toEqual([status, "VALIDATION_ERROR"])
        const profile = yield* answer(meters, "/meters/profile")
        expect([profile.status, profile.json.error.code]).toEqual([422, "PROFILE_CREATION_FAILED"])
      }
    }))

  it.scoped("ApiError(ValidationError, { status: 400 }): what the OpenAPI document declares and the API answers", () =>
    Effect.gen(function*() {
      const declared = yield* serve(
        Http.serveApi().pipe(Layer.provide(DeclaredLive)) as Layer.Layer<never, unknown>,
        config(400)
      )
      const document = yield* answer(declared, "/openapi.json")
      const schemaOf = (status: string) =>
        JSON.stringify(document.json.paths["/meters/{id}/declared"].get.responses[status] ?? null)
      expect(schemaOf("400")).toContain("VALIDATION_ERROR")
      for (const path of ["/meters/7/declared", "/meters/seven/declared"]) {
        const res = yield* answer(declared, path)
        expect([path, res.status, res.json.error.code]).toEqual([path, 400, "VALIDATION_ERROR"])
      }
      const meters = yield* answer(yield* serveMeterApi(400), "/openapi.json")
      expect(Object.keys(meters.json.paths["/meters/{id}/tariff"].get.responses)).toContain("422")
    }))

  it.effect("only 400 or 422: another value is a ConfigError naming the key, from configuration or code", () =>
    Effect.gen(function*() {
      for (const value of [404, 500, "four hundred"]) {
        const exit = yield* Effect.exit(
          Effect.withConfigProvider(HttpConfig.server, ConfigProvider.fromJson({ http: { validation_status: value } }))
        )
        expect(Exit.isFailure(exit)).toBe(true)
        expect(String(Exit.isFailure(exit) ? exit.cause : "")).toContain("http.validation_status")
      }
      const read = yield* Effect.withConfigProvider(
        HttpConfig.server,
        ConfigProvider.fromJson({ http: { validation_status: "400" } })
      )
      expect(read.validationStatus).toBe(400)
      const given = yield* Effect.exit(Effect.withConfigProvider(
        Http.resolve({ service: "meter-service", server: { validationStatus: 404 as 400 } }),
        ConfigProvider.fromJson({})
      ))
      expect(String(Exit.isFailure(given) ? given.cause : "")).toContain("ServeOptions.server.validationStatus")
      expect(String(Exit.isFailure(given) ? given.cause : "")).toContain("http.validation_status")
    }))

  it.scoped("a ServiceClient reads an upstream's VALIDATION_ERROR as a ValidationError, 400 or 422", () =>
    Effect.gen(function*() {
      for (const setting of [400, 422]) {
        const upstream = yield* serveApp(setting)
        const client = yield* ServiceClient.make({
          name: "meters",
          baseUrl: upstream.url,
          timeoutMs: 5000,
          maxRetries: 2,
          retryBaseDelayMs: 10,
          breakerFailureThreshold: 5,
          breakerResetTimeoutMs: 1000,
          breakerHalfOpenMaxCalls: 1
        })
        const error = yield* Effect.flip(client.post("/body", { name: "" }))
        expect([setting, error._tag]).toEqual([setting, "ValidationError"])
        expect(error).toBeInstanceOf(ValidationError)
        expect(error.details["validation_errors"]).toEqual([
          { field: "body.name", message: "String should have at least 1 character", type: "string_too_short" }
        ])
      }
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})

describe("a JSON body that is not UTF-8", () => {
  it.scoped("is FastAPI's 400 HTTP_400 on the router and on HttpApi; other bodies keep their 422", () =>
    Effect.gen(function*() {
      for (const setting of [undefined, 400]) {
        const app = yield* serveApp(setting)
        const api = yield* serveTestApi(setting)
        for (const [server, path] of [[app, "/body"], [api, "/api/v1/items"]] as const) {
          const res = yield* answer(server, path, postJson(latin1Json))
          expect([path, res.status, res.json.error]).toEqual([path, 400, {
            code: "HTTP_400",
            message: "There was an error parsing the body"
          }])
        }
        // Malformed JSON stays FastAPI's 422 json_invalid (the configured status).
        const malformed = yield* answer(app, "/body", postJson("{\"name\":"))
        expect(malformed.json.error.details.validation_errors).toEqual([
          { field: "body", message: "JSON decode error", type: "json_invalid" }
        ])
        // A text body is read as text by the route, not as JSON: refused as such.
        const text = yield* answer(app, "/body", {
          method: "POST",
          headers: { "content-type": "text/plain" },
          body: latin1Json
        })
        expect([text.status, text.json.error.details.validation_errors]).toEqual([setting ?? 422, [
          { field: "body", message: "The body is not valid UTF-8 text", type: "value_error" }
        ]])
      }
    }))
})
