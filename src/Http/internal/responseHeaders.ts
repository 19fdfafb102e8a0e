/**
 * Headers added to a response in one construction of it. `HttpServerResponse.setHeader` builds a new response per
 * header, copying its headers twice each time (`Headers.set`, then the response's constructor, which adds the
 * body's content type and length); the stack adds a dozen to every response (the ids and the security headers).
 *
 * @internal
 */
import * as Headers from "@effect/platform/Headers"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"

/** A header to add: its name in lower case, as `Headers.set` stores it, and its value. @internal */
export type Entry = readonly [name: string, value: string]

/** The headers of a record as entries, names in lower case. @internal */
export const entriesOf = (headers: Readonly<Record<string, string>>): ReadonlyArray<Entry> =>
  Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value] as const)

/**
 * The ids' response headers (`RequestContext.setHeaders`): request id, correlation id, service name and trace id.
 *
 * @internal
 */
export const idEntries = (
  ids: { readonly requestId: string; readonly correlationId: string; readonly traceId: string },
  service: string
): Array<Entry> => [
  ["x-request-id", ids.requestId],
  ["x-correlation-id", ids.correlationId],
  ["x-service-name", service],
  ["x-trace-id", ids.traceId]
]

// Every `Headers` is an object of this prototype (`Headers.empty` too), filled in key by key (`Headers.set` copies
// them into a new one the same way): setting the prototype of a filled object instead (`unsafeFromRecord`) makes
// V8 rebuild it, several times the cost of the copy.
const headersPrototype: object = Object.getPrototypeOf(Headers.empty)

// The platform's response class: `setHeader` builds its result with `new` on it, with these arguments.
type ResponseConstructor = new(
  status: number,
  statusText: string | undefined,
  headers: Headers.Headers,
  cookies: HttpServerResponse.HttpServerResponse["cookies"],
  body: HttpServerResponse.HttpServerResponse["body"]
) => HttpServerResponse.HttpServerResponse

/**
 * `response` with `entries`, then `more`, set: the response `HttpServerResponse.setHeader` gives for each entry in
 * turn (a name it already has keeps its place and takes the new value), built once, with the constructor `setHeader`
 * calls: the class of the response. `test/HttpResponseHeaders.test.ts` checks the two are equal for every kind of
 * body.
 *
 * @internal
 */
export const append = (
  response: HttpServerResponse.HttpServerResponse,
  entries: ReadonlyArray<Entry>,
  more: ReadonlyArray<Entry> = []
): HttpServerResponse.HttpServerResponse => {
  if (entries.length === 0 && more.length === 0) return response
  const headers: Record<string, string> = Object.create(headersPrototype)
  for (const name in response.headers) headers[name] = response.headers[name]!
  for (let i = 0; i < entries.length; i++) headers[entries[i]![0]] = entries[i]![1]
  for (let i = 0; i < more.length; i++) headers[more[i]![0]] = more[i]![1]
  return new (response.constructor as ResponseConstructor)(
    response.status,
    response.statusText,
    headers as Headers.Headers,
    response.cookies,
    response.body
  )
}
