/**
 * The problems of a request body as pydantic names them: each kind of Effect Schema failure and each common filter
 * against the `type` and message FastAPI answers with, over a real server (`Http.serve` and `HttpErrors.decodeBody`).
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import { expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as ApiEnvelope from "../src/Http/ApiEnvelope.js"
import * as Http from "../src/Http/Http.js"
import * as HttpErrors from "../src/Http/HttpErrors.js"
import { jsonOf, request, serverLayer } from "./fixtures/http/server.js"

enum Tier {
  Free = "free",
  Pro = "pro"
}

const Body = Schema.Struct({
  text: Schema.optional(Schema.String),
  number: Schema.optional(Schema.Number),
  flag: Schema.optional(Schema.Boolean),
  count: Schema.optional(Schema.NumberFromString),
  big: Schema.optional(Schema.BigInt),
  when: Schema.optional(Schema.Date),
  object: Schema.optional(Schema.Struct({ a: Schema.String })),
  list: Schema.optional(Schema.Array(Schema.Struct({ qty: Schema.Int }))),
  nonEmpty: Schema.optional(Schema.Array(Schema.String).pipe(Schema.minItems(2))),
  tier: Schema.optional(Schema.Enums(Tier)),
  nullable: Schema.optional(Schema.NullOr(Schema.Int)),
  either: Schema.optional(Schema.Union(Schema.String, Schema.Number)),
  code: Schema.optional(Schema.String.pipe(Schema.pattern(/^[A-Z]{3}$/))),
  step: Schema.optional(Schema.Number.pipe(Schema.multipleOf(5))),
  positive: Schema.optional(Schema.Number.pipe(Schema.lessThan(10), Schema.positive())),
  trimmed: Schema.optional(Schema.Trimmed),
  sku: Schema.optional(
    Schema.String.pipe(Schema.filter((s) => s.startsWith("SKU-") || "SKU must start with SKU-"))
  ),
  label: Schema.optional(Schema.String.annotations({ message: () => "Label must be text" }))
})

const Strict = Schema.Struct({ name: Schema.String }).annotations({ parseOptions: { onExcessProperty: "error" } })

const router = HttpRouter.empty.pipe(
  HttpRouter.post("/validate", Effect.flatMap(HttpErrors.decodeBody(Body), () => ApiEnvelope.success({ ok: true }))),
  HttpRouter.post("/strict", Effect.flatMap(HttpErrors.decodeBody(Strict), () => ApiEnvelope.success({ ok: true }))),
  HttpRouter.post(
    "/request",
    Effect.flatMap(HttpErrors.decodeRequest({ body: Strict }), () => ApiEnvelope.success({ ok: true }))
  )
)

const server = serverLayer(Http.serve(router) as Layer.Layer<never, unknown>, {
  service: { name: "validation-service" },
  rate_limit: { enabled: false }
})

const problems = (path: string, body: unknown) =>
  Effect.gen(function*() {
    const res = yield* request(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body)
    })
    expect(res.status).toBe(422)
    const envelope = yield* jsonOf(res)
    expect(envelope.error.code).toBe("VALIDATION_ERROR")
    return envelope.error.details.validation_errors as Array<{ field: string; message: string; type: string }>
  })

layer(server, { excludeTestServices: true })("pydantic's names for Effect Schema's failures", (it) => {
  const cases: Array<[string, Record<string, unknown>, Array<[string, string, string]>]> = [
    ["string_type", { text: 5 }, [["body.text", "string_type", "Input should be a valid string"]]],
    ["float_type", { number: "five" }, [[
      "body.number",
      "float_parsing",
      "Input should be a valid number, unable to parse string as a number"
    ]]],
    ["float_type (not a string)", { number: [] }, [["body.number", "float_type", "Input should be a valid number"]]],
    ["bool_type", { flag: 1 }, [["body.flag", "bool_type", "Input should be a valid boolean"]]],
    ["NumberFromString", { count: "x1" }, [[
      "body.count",
      "float_parsing",
      "Input should be a valid number, unable to parse string as a number"
    ]]],
    ["BigInt", { big: "1.5" }, [[
      "body.big",
      "int_parsing",
      "Input should be a valid integer, unable to parse string as an integer"
    ]]],
    ["Date", { when: "yesterday-ish" }, [["body.when", "datetime_parsing", "Input should be a valid datetime"]]],
    ["dict_type", { object: "a" }, [["body.object", "dict_type", "Input should be a valid dictionary"]]],
    ["nested paths with indexes", { list: [{ qty: 1 }, { qty: [] }, {}] }, [
      ["body.list.1.qty", "int_type", "Input should be a valid integer"],
      ["body.list.2.qty", "missing", "Field required"]
    ]],
    ["too_short", { nonEmpty: ["a"] }, [[
      "body.nonEmpty",
      "too_short",
      "List should have at least 2 items after validation, not 1"
    ]]],
    ["enum", { tier: "gold" }, [["body.tier", "enum", "Input should be 'free' or 'pro'"]]],
    ["a nullable value reports the value's problem", { nullable: "x" }, [[
      "body.nullable",
      "int_parsing",
      "Input should be a valid integer, unable to parse string as an integer"
    ]]],
    ["a union reports each member's problem", { either: true }, [
      ["body.either", "string_type", "Input should be a valid string"],
      ["body.either", "float_type", "Input should be a valid number"]
    ]],
    ["string_pattern_mismatch", { code: "abc" }, [[
      "body.code",
      "string_pattern_mismatch",
      "String should match pattern '^[A-Z]{3}$'"
    ]]],
    ["multiple_of", { step: 7 }, [["body.step", "multiple_of", "Input should be a multiple of 5"]]],
    ["greater_than", { positive: 0 }, [["body.positive", "greater_than", "Input should be greater than 0"]]],
    ["less_than", { positive: 10 }, [["body.positive", "less_than", "Input should be less than 10"]]],
    ["a filter pydantic has no name for: value_error with the schema's description", { trimmed: " a " }, [[
      "body.trimmed",
      "value_error",
      "Input should be a string with no leading or trailing whitespace"
    ]]],
    ["a filter's own message", { sku: "X-1" }, [["body.sku", "value_error", "SKU must start with SKU-"]]],
    ["a message annotation", { label: 1 }, [["body.label", "string_type", "Label must be text"]]]
  ]

  for (const [name, body, expected] of cases) {
    it.effect(name, () =>
      Effect.gen(function*() {
        expect(yield* problems("/validate", body)).toEqual(
          expected.map(([field, type, message]) => ({ field, message, type }))
        )
      }))
  }

  it.effect("every problem of a body at once, in the schema's order", () =>
    Effect.gen(function*() {
      const errors = yield* problems("/validate", { text: 1, flag: "no", tier: "x", step: 3 })
      expect(errors.map((e) => [e.field, e.type])).toEqual([
        ["body.text", "string_type"],
        ["body.flag", "bool_parsing"],
        ["body.tier", "enum"],
        ["body.step", "multiple_of"]
      ])
    }))

  it.effect("extra_forbidden where the schema forbids unknown keys; missing for absent fields", () =>
    Effect.gen(function*() {
      expect(yield* problems("/strict", { extra: 1 })).toEqual([
        { field: "body.extra", message: "Extra inputs are not permitted", type: "extra_forbidden" },
        { field: "body.name", message: "Field required", type: "missing" }
      ])
    }))

  it.effect("never quotes the input back", () =>
    Effect.gen(function*() {
      const marker = "marker-" + "x".repeat(200)
      const errors = yield* problems("/validate", { number: marker, text: [marker], object: { a: { marker } } })
      expect(JSON.stringify(errors)).not.toContain("marker")
      expect(errors.map((e) => e.field)).toEqual(["body.text", "body.number", "body.object.a"])
    }))
})

layer(server, { excludeTestServices: true })("the content type of a JSON body, as FastAPI reads it", (it) => {
  const post = (path: string, contentType: string | undefined) =>
    request(path, {
      method: "POST",
      // A Uint8Array body: fetch sends no content type of its own for it.
      headers: contentType === undefined ? {} : { "content-type": contentType },
      body: new TextEncoder().encode(JSON.stringify({ name: "widget" }))
    })

  it.effect("reads JSON without a content type, with application/json and application/*+json", () =>
    Effect.gen(function*() {
      for (const path of ["/strict", "/request"]) {
        for (
          const type of [
            undefined,
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/merge-patch+json"
          ]
        ) {
          const res = yield* post(path, type)
          expect([path, type, res.status]).toEqual([path, type, 200])
        }
      }
    }))

  it.effect("refuses the JSON text of another content type at body, 422 VALIDATION_ERROR", () =>
    Effect.gen(function*() {
      for (const path of ["/strict", "/request"]) {
        for (
          const type of [
            "text/plain",
            "text/plain; charset=utf-8",
            "application/x-www-form-urlencoded",
            "application/xml"
          ]
        ) {
          const res = yield* post(path, type)
          expect([path, type, res.status]).toEqual([path, type, 422])
          const envelope = yield* jsonOf(res)
          expect(envelope.error.code).toBe("VALIDATION_ERROR")
          expect(envelope.error.details.validation_errors).toEqual([
            { field: "body", message: "Input should be a valid dictionary", type: "dict_type" }
          ])
        }
      }
    }))
})
