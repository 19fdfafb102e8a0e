/**
 * CORS of `http.cors_origins` over a real listener: every response says it varies on `Origin` (with the app's own
 * `Vary` kept), so that a cache never hands the answer to one origin, or to a request without one, to another; a
 * preflight is an `OPTIONS` with `Access-Control-Request-Method`; entries no browser sends are configuration errors.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { describe, expect, it } from "@effect/vitest"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as ApiEnvelope from "../src/Http/ApiEnvelope.js"
import * as Http from "../src/Http/Http.js"
import * as HttpConfig from "../src/Http/HttpConfig.js"
import { fetchFrom, serve } from "./fixtures/http/server.js"

const router = HttpRouter.empty.pipe(
  HttpRouter.get("/api/v1/things", ApiEnvelope.success([{ id: "a" }])),
  HttpRouter.get(
    "/api/v1/encoded",
    Effect.map(
      HttpServerResponse.text("x"),
      (response) => HttpServerResponse.setHeader(response, "vary", "Accept-Encoding")
    )
  ),
  HttpRouter.post("/api/v1/things", ApiEnvelope.success({ id: "b" }, { status: 201 }))
)

const config = (cors_origins: unknown) => ({
  service: { name: "cors-service" },
  http: { cors_origins },
  rate_limit: { enabled: false }
})

const varyNames = (response: Response): Array<string> =>
  (response.headers.get("vary") ?? "").split(",").map((name) => name.trim().toLowerCase()).filter((n) => n !== "")

describe("CORS", () => {
  it.scoped("every response varies on Origin, the app's Vary kept; only allowed origins are named", () =>
    Effect.gen(function*() {
      const server = yield* serve(
        Http.serve(router) as Layer.Layer<never, unknown>,
        config(["https://a.example", "https://b.example"])
      )
      // Without Origin (a navigation, a server-side call): a cache must not give this answer to a page's request.
      const plain = yield* fetchFrom(server, "/api/v1/things")
      expect(plain.status).toBe(200)
      expect(plain.headers.get("access-control-allow-origin")).toBeNull()
      expect(varyNames(plain)).toContain("origin")
      // An origin not allowed: nothing names it, and the answer varies on it all the same.
      const other = yield* fetchFrom(server, "/api/v1/things", { headers: { origin: "https://evil.example" } })
      expect(other.headers.get("access-control-allow-origin")).toBeNull()
      expect(varyNames(other)).toContain("origin")
      // An allowed origin: named, its answer varies on Origin, and the app's own Vary is kept.
      for (const origin of ["https://a.example", "https://b.example"]) {
        const allowed = yield* fetchFrom(server, "/api/v1/encoded", { headers: { origin } })
        expect(allowed.status).toBe(200)
        expect(allowed.headers.get("access-control-allow-origin")).toBe(origin)
        expect(allowed.headers.get("access-control-expose-headers")).toContain("x-request-id")
        expect(varyNames(allowed)).toEqual(["accept-encoding", "origin"])
      }
      const unvaried = yield* fetchFrom(server, "/api/v1/encoded")
      expect(varyNames(unvaried)).toEqual(["accept-encoding", "origin"])
      // An error answer too.
      const missing = yield* fetchFrom(server, "/api/v1/nothing", { headers: { origin: "https://a.example" } })
      expect(missing.status).toBe(404)
      expect(missing.headers.get("access-control-allow-origin")).toBe("https://a.example")
      expect(varyNames(missing)).toContain("origin")
    }))

  it.scoped("a preflight varies on Origin and what it asks; an OPTIONS that is none is the app's", () =>
    Effect.gen(function*() {
      const server = yield* serve(Http.serve(router) as Layer.Layer<never, unknown>, config(["https://a.example"]))
      const preflight = yield* fetchFrom(server, "/api/v1/things", {
        method: "OPTIONS",
        headers: {
          origin: "https://a.example",
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type"
        }
      })
      // Starlette's answer: 200, text `OK`, and every method of its allow_methods=["*"], OPTIONS included.
      expect([preflight.status, yield* Effect.promise(() => preflight.text())]).toEqual([200, "OK"])
      expect(preflight.headers.get("content-type")).toBe("text/plain; charset=utf-8")
      expect(preflight.headers.get("access-control-allow-origin")).toBe("https://a.example")
      expect(preflight.headers.get("access-control-allow-methods")).toBe("DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT")
      expect(preflight.headers.get("access-control-allow-headers")).toBe("content-type")
      // Starlette's default: a browser may reuse the answer for 10 minutes.
      expect(preflight.headers.get("access-control-max-age")).toBe("600")
      expect(varyNames(preflight)).toEqual(
        expect.arrayContaining(["origin", "access-control-request-method", "access-control-request-headers"])
      )
      const refused = yield* fetchFrom(server, "/api/v1/things", {
        method: "OPTIONS",
        headers: { origin: "https://evil.example", "access-control-request-method": "POST" }
      })
      expect(refused.headers.get("access-control-allow-origin")).toBeNull()
      expect(varyNames(refused)).toContain("origin")
      // Not a preflight (no Access-Control-Request-Method): the router's answer, 405 with the path's methods.
      const options = yield* fetchFrom(server, "/api/v1/things", {
        method: "OPTIONS",
        headers: { origin: "https://a.example" }
      })
      expect(options.status).toBe(405)
      expect(options.headers.get("allow")).toBe("GET, HEAD, POST")
      expect(options.headers.get("access-control-allow-origin")).toBe("https://a.example")
    }))

  it.scoped("http.cors_allow_headers lists the headers a preflight allows; http.cors_max_age_seconds its Max-Age", () =>
    Effect.gen(function*() {
      const server = yield* serve(Http.serve(router) as Layer.Layer<never, unknown>, {
        ...config(["https://a.example"]),
        http: {
          cors_origins: ["https://a.example"],
          cors_allow_headers: ["Authorization", "X-Merchant-ID"],
          cors_max_age_seconds: 86_400
        }
      })
      const preflight = (requested: string | undefined) =>
        fetchFrom(server, "/api/v1/things", {
          method: "OPTIONS",
          headers: {
            origin: "https://a.example",
            "access-control-request-method": "POST",
            ...(requested === undefined ? {} : { "access-control-request-headers": requested })
          }
        })
      // As Starlette writes the list: the names as configured, sorted as Python sorts them.
      const allowed = "Accept, Accept-Language, Authorization, Content-Language, Content-Type, X-Merchant-ID"
      // The list, whatever the preflight asks; a header it does not name is refused, as Starlette refuses it.
      for (const requested of ["authorization,x-merchant-id", "Content-Type, X-Merchant-ID", undefined]) {
        const answer = yield* preflight(requested)
        expect(answer.status).toBe(200)
        expect(answer.headers.get("access-control-allow-headers")).toBe(allowed)
        expect(answer.headers.get("access-control-max-age")).toBe("86400")
      }
      const evil = yield* preflight("authorization,x-evil-header")
      expect([evil.status, yield* Effect.promise(() => evil.text())]).toEqual([400, "Disallowed CORS headers"])
      expect(evil.headers.get("access-control-allow-headers")).toBe(allowed)
      expect(evil.headers.get("access-control-allow-origin")).toBe("https://a.example")
      const refused = yield* Effect.flip(
        Effect.withConfigProvider(
          HttpConfig.server,
          ConfigProvider.fromJson({ http: { cors_allow_headers: ["x-ok", "bad header"], cors_max_age_seconds: 1 } })
        )
      )
      expect(String(refused)).toContain("http.cors_allow_headers")
      expect(String(refused)).toContain("\"bad header\"")
      const negative = yield* Effect.flip(
        Effect.withConfigProvider(HttpConfig.server, ConfigProvider.fromJson({ http: { cors_max_age_seconds: -1 } }))
      )
      expect(String(negative)).toContain("http.cors_max_age_seconds")
    }))

  it.scoped("a refused preflight is a 400 saying what is disallowed, as Starlette's CORSMiddleware answers", () =>
    Effect.gen(function*() {
      const server = yield* serve(Http.serve(router) as Layer.Layer<never, unknown>, {
        ...config(["https://a.example"]),
        http: { cors_origins: ["https://a.example"], cors_allow_headers: ["authorization"] }
      })
      const preflight = (origin: string, method: string, requested?: string) =>
        Effect.flatMap(
          fetchFrom(server, "/api/v1/things", {
            method: "OPTIONS",
            headers: {
              origin,
              "access-control-request-method": method,
              ...(requested === undefined ? {} : { "access-control-request-headers": requested })
            }
          }),
          (res) => Effect.map(Effect.promise(() => res.text()), (body) => ({ res, body }))
        )
      const cases: ReadonlyArray<readonly [string, string, string | undefined, string]> = [
        ["https://evil.example", "POST", undefined, "Disallowed CORS origin"],
        ["https://a.example", "TRACE", undefined, "Disallowed CORS method"],
        ["https://a.example", "CONNECT", undefined, "Disallowed CORS method"],
        ["https://a.example", "POST", "x-evil", "Disallowed CORS headers"],
        ["https://evil.example", "TRACE", "authorization, x-evil", "Disallowed CORS origin, method, headers"]
      ]
      for (const [origin, method, requested, says] of cases) {
        const { body, res } = yield* preflight(origin, method, requested)
        expect([says, res.status, body]).toEqual([says, 400, says])
        expect(res.headers.get("content-type")).toBe("text/plain; charset=utf-8")
        // As Starlette: the preflight's headers, the origin named only when it is allowed.
        expect(res.headers.get("access-control-allow-origin")).toBe(origin === "https://a.example" ? origin : null)
        expect(res.headers.get("access-control-allow-methods")).toBe("DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT")
        expect(res.headers.get("access-control-max-age")).toBe("600")
        expect(varyNames(res)).toContain("origin")
      }
      // A method is compared as sent, as Starlette compares it; OPTIONS is one of Starlette's.
      expect((yield* preflight("https://a.example", "post")).res.status).toBe(400)
      expect((yield* preflight("https://a.example", "OPTIONS")).res.status).toBe(200)
      const every = yield* serve(Http.serve(router) as Layer.Layer<never, unknown>, config(["*"]))
      const anyOrigin = yield* Effect.flatMap(
        fetchFrom(every, "/api/v1/things", {
          method: "OPTIONS",
          headers: { origin: "https://x.example", "access-control-request-method": "TRACE" }
        }),
        (res) => Effect.map(Effect.promise(() => res.text()), (body) => ({ res, body }))
      )
      expect([anyOrigin.res.status, anyOrigin.body]).toEqual([400, "Disallowed CORS method"])
      expect(anyOrigin.res.headers.get("access-control-allow-origin")).toBe("*")
    }))

  it.scoped("\"*\" allows every origin", () =>
    Effect.gen(function*() {
      const server = yield* serve(Http.serve(router) as Layer.Layer<never, unknown>, config(["*"]))
      const res = yield* fetchFrom(server, "/api/v1/things", { headers: { origin: "https://anywhere.example" } })
      expect(res.headers.get("access-control-allow-origin")).toBe("*")
    }))

  it.effect("an entry no browser sends as its Origin is a ConfigError naming it; an empty value is none", () =>
    Effect.gen(function*() {
      const read = (cors_origins: unknown) =>
        Effect.withConfigProvider(HttpConfig.server, ConfigProvider.fromJson({ http: { cors_origins } }))
      const cases: ReadonlyArray<readonly [string, string]> = [
        ["https://app.example/", "no path"],
        ["https://app.example/ui", "no path"],
        ["https://App.Example", "https://app.example"],
        ["https://app.example:443", "https://app.example"],
        ["app.example", "scheme://host"]
      ]
      for (const [entry, says] of cases) {
        const error = yield* Effect.flip(read(["https://ok.example", entry]))
        expect(ConfigError.isInvalidData(error)).toBe(true)
        expect(String(error)).toContain("http.cors_origins")
        expect(String(error)).toContain(JSON.stringify(entry))
        expect(String(error)).toContain(says)
        expect(String(error)).not.toContain("https://ok.example\"")
      }
      const valid = ["https://app.example", "http://localhost:5173", "capacitor://localhost", "*"]
      expect((yield* read(valid)).corsOrigins).toEqual(valid)
      expect((yield* read("")).corsOrigins).toEqual([])
    }))

  it.scoped("ServeOptions.server.corsOrigins is held to the same rule", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        serve(
          Http.serve(router, { server: { corsOrigins: ["https://app.example/"] } }) as Layer.Layer<never, unknown>,
          { service: { name: "cors-service" }, rate_limit: { enabled: false } }
        )
      )
      expect(ConfigError.isConfigError(error) && ConfigError.isInvalidData(error)).toBe(true)
      expect(String(error)).toContain("http.cors_origins")
      expect(String(error)).toContain("\"https://app.example/\"")
    }))
})
