/**
 * The JSON media types FastAPI reads a body of as JSON (`application/json` and `application/<something>+json`, such
 * as `application/merge-patch+json` and `application/vnd.api+json`), read as JSON by an `HttpApi` endpoint too,
 * over a real server; the handler still sees the content type the client sent.
 */
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { ValidationError } from "../src/Errors/CommonErrors.js"
import * as ApiEnvelope from "../src/Http/ApiEnvelope.js"
import * as Http from "../src/Http/Http.js"
import * as HttpErrors from "../src/Http/HttpErrors.js"
import { jsonOf, request, serverLayer } from "./fixtures/http/server.js"

const Patch = Schema.Struct({ name: Schema.String.pipe(Schema.minLength(1)) })
const Echo = Schema.Struct({ name: Schema.String, contentType: Schema.String })

class Api extends HttpApi.make("json-types")
  .add(
    HttpApiGroup.make("items").add(
      HttpApiEndpoint.patch("patch", "/items/:id")
        .setPath(Schema.Struct({ id: Schema.String }))
        .setPayload(Patch)
        .addSuccess(ApiEnvelope.Success(Echo))
    )
  )
  .addError(HttpErrors.ApiError(ValidationError))
{}

const ItemsLive = HttpApiBuilder.group(Api, "items", (h) =>
  h.handle("patch", ({ payload, request }) =>
    // What the handler reads of the request, through its argument and through the context.
    Effect.map(HttpServerRequest.HttpServerRequest, (inContext) => ({
      name: payload.name,
      contentType: `${request.headers["content-type"]} | ${inContext.headers["content-type"]}`
    }))))

const api = Http.serveApi().pipe(Layer.provide(HttpApiBuilder.api(Api).pipe(Layer.provide(ItemsLive))))

const config = { service: { name: "json-types" }, rate_limit: { enabled: false } }

const patch = (body: string, contentType: string) =>
  Effect.flatMap(
    request("/items/1", { method: "PATCH", body, headers: { "content-type": contentType } }),
    (res) => Effect.map(jsonOf(res), (json) => ({ status: res.status, json }))
  )

layer(serverLayer(api as Layer.Layer<never, unknown>, config), { excludeTestServices: true })(
  "HttpApi JSON content types",
  (it) => {
    it.effect("application/*+json bodies are read as JSON, the handler seeing the content type sent", () =>
      Effect.gen(function*() {
        for (
          const type of [
            "application/json",
            "application/merge-patch+json",
            "application/vnd.api+json; charset=utf-8",
            "Application/Merge-Patch+JSON"
          ]
        ) {
          const res = yield* patch("{\"name\":\"Blush\"}", type)
          expect([type, res.status, res.json.data]).toEqual([type, 200, {
            name: "Blush",
            contentType: `${type} | ${type}`
          }])
        }
      }))

    it.effect("every problem of an application/*+json body is listed at body, as for application/json", () =>
      Effect.gen(function*() {
        for (const type of ["application/json", "application/merge-patch+json"]) {
          const invalid = yield* patch("{\"name\":\"\"}", type)
          expect([
            type,
            invalid.status,
            invalid.json.error.details.validation_errors.map((e: { field: string }) => e.field)
          ]).toEqual([type, 422, ["body.name"]])
          const broken = yield* patch("{\"name\":", type)
          expect([type, broken.status, broken.json.error.details.validation_errors]).toEqual([type, 422, [
            { field: "body", message: "JSON decode error", type: "json_invalid" }
          ]])
        }
      }))

    it.effect("bytes that are not UTF-8 in an application/*+json body are FastAPI's 400, never U+FFFD", () =>
      Effect.gen(function*() {
        for (const type of ["application/json", "application/merge-patch+json"]) {
          const res = yield* Effect.flatMap(
            request("/items/1", {
              method: "PATCH",
              body: new Uint8Array(Buffer.from("{\"name\":\"caf\u00e9\"}", "latin1")),
              headers: { "content-type": type }
            }),
            (res) => Effect.map(jsonOf(res), (json) => ({ status: res.status, json }))
          )
          expect([type, res.status, res.json.error]).toEqual([type, 400, {
            code: "HTTP_400",
            message: "There was an error parsing the body"
          }])
        }
      }))

    it.effect("a media type FastAPI does not read as JSON is not read as JSON", () =>
      Effect.gen(function*() {
        const res = yield* patch("{\"name\":\"Blush\"}", "text/plain+json")
        expect(res.status).toBe(422)
      }))
  }
)
