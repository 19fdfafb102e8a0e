/**
 * `Http/internal/responseHeaders.append` gives the response `HttpServerResponse.setHeader` gives for each header in
 * turn, for every kind of body, status text and cookies: it builds it with the platform's own response class.
 */
import * as Cookies from "@effect/platform/Cookies"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { describe, expect, it } from "@effect/vitest"
import { Stream } from "effect"
import * as ResponseHeaders from "../src/Http/internal/responseHeaders.js"

const entries: ReadonlyArray<ResponseHeaders.Entry> = [
  ["x-content-type-options", "nosniff"],
  ["x-request-id", "req_0123456789ab"],
  // A name the response has already: it keeps its place and takes the new value.
  ["cache-control", "no-store"],
  ["x-trace-id", "4bf92f3577b34da6a3ce929d0e0e4736"]
]

const responses: ReadonlyArray<readonly [string, HttpServerResponse.HttpServerResponse]> = [
  ["json", HttpServerResponse.unsafeJson({ id: 1 }, { headers: { "cache-control": "max-age=60" } })],
  [
    "text with status text",
    HttpServerResponse.text("hi", { status: 201, statusText: "Made", headers: { "cache-control": "x" } })
  ],
  ["empty", HttpServerResponse.empty({ status: 204, headers: { "cache-control": "x" } })],
  ["bytes", HttpServerResponse.uint8Array(new Uint8Array([1, 2, 3]), { contentType: "application/octet-stream" })],
  ["stream", HttpServerResponse.stream(Stream.make(new Uint8Array([1])), { contentType: "text/plain" })],
  ["raw", HttpServerResponse.raw("raw body")],
  [
    "with cookies",
    HttpServerResponse.unsafeJson({ ok: true }, { cookies: Cookies.fromSetCookie(["session=abc; Path=/"]) })
  ]
]

describe("responseHeaders.append", () => {
  for (const [name, response] of responses) {
    it(`equals setHeader for each header in turn: ${name}`, () => {
      const once = ResponseHeaders.append(response, entries)
      const chained = entries.reduce((r, [header, value]) => HttpServerResponse.setHeader(r, header, value), response)
      expect(HttpServerResponse.isServerResponse(once)).toBe(true)
      expect(Object.entries(once.headers)).toEqual(Object.entries(chained.headers))
      expect(once.status).toBe(chained.status)
      expect(once.statusText).toBe(chained.statusText)
      expect(once.body).toBe(chained.body)
      expect(once.cookies).toBe(chained.cookies)
      expect(Object.getPrototypeOf(once)).toBe(Object.getPrototypeOf(chained))
      expect(Object.getPrototypeOf(once.headers)).toBe(Object.getPrototypeOf(chained.headers))
      // The response it started from is left as it was.
      expect(response.headers["x-request-id"]).toBeUndefined()
    })
  }

  it("sets the second list after the first, as setHeader in turn does", () => {
    const [, response] = responses[0]!
    const more: ReadonlyArray<ResponseHeaders.Entry> = [["x-request-id", "req_ffffffffffff"], [
      "x-service-name",
      "catalog"
    ]]
    const once = ResponseHeaders.append(response, entries, more)
    const chained = [...entries, ...more].reduce(
      (r, [header, value]) => HttpServerResponse.setHeader(r, header, value),
      response
    )
    expect(Object.entries(once.headers)).toEqual(Object.entries(chained.headers))
    expect(once.headers["x-request-id"]).toBe("req_ffffffffffff")
  })

  it("gives the response itself when there is nothing to add", () => {
    const [, response] = responses[0]!
    expect(ResponseHeaders.append(response, [])).toBe(response)
    expect(ResponseHeaders.append(response, [], [])).toBe(response)
  })
})
