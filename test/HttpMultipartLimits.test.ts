/**
 * The app's own multipart limits (`Multipart.withMaxFileSize`, `withMaxFieldSize`, `withMaxParts`,
 * `HttpServerRequest.withMaxBodySize`, `Multipart.withLimits`) answered by `Http.serve` over a real socket: each
 * is a 413 `PAYLOAD_TOO_LARGE` naming the limit the parser read (`details.max_bytes`, `details.max_parts`), for
 * `request.multipart` and `request.multipartStream` alike.
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Multipart from "@effect/platform/Multipart"
import { expect, layer } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as http from "node:http"
import * as zlib from "node:zlib"
import * as ApiEnvelope from "../src/Http/ApiEnvelope.js"
import * as Http from "../src/Http/Http.js"
import { type Json, serverLayer, TestServer } from "./fixtures/http/server.js"

// The toolkit's own body limit, far above the app's limits below.
const bodyLimit = 64 * 1024
const maxFileSize = 256
const maxFieldSize = 128
const maxParts = 3
const maxTotalSize = 512

type Limit = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
type StreamLimit = <A, E, R>(stream: Stream.Stream<A, E, R>) => Stream.Stream<A, E, R>

const fileLimit: Limit = Multipart.withMaxFileSize(Option.some(maxFileSize))

// Each limit as an app sets it, on the effect that reads the whole body or on the one that runs the stream of parts.
const limits: Record<string, Limit> = {
  file: fileLimit,
  field: Multipart.withMaxFieldSize(maxFieldSize),
  parts: Multipart.withMaxParts(Option.some(maxParts)),
  total: HttpServerRequest.withMaxBodySize(Option.some(maxTotalSize)),
  totalOption: (effect) => Multipart.withLimits(effect, { maxTotalSize: Option.some(maxTotalSize) })
}

// The same limits given to the stream itself, as `HttpApi` gives an endpoint's.
const streamLimits: Record<string, StreamLimit> = {
  file: Multipart.withLimitsStream({ maxFileSize: Option.some(maxFileSize) }),
  field: Multipart.withLimitsStream({ maxFieldSize }),
  parts: Multipart.withLimitsStream({ maxParts: Option.some(maxParts) }),
  total: Multipart.withLimitsStream({ maxTotalSize: Option.some(maxTotalSize) })
}

// Every part read, files to their end.
const drained = (parts: Stream.Stream<Multipart.Part, Multipart.MultipartError>) =>
  Stream.runCollect(
    Stream.mapEffect(
      parts,
      (part): Effect.Effect<Multipart.Part, Multipart.MultipartError> =>
        part._tag === "File" ? Effect.as(Stream.runDrain(part.content), part) : Effect.succeed(part)
    )
  )

const whole = (limit: Limit) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const fields = yield* limit(request.multipart)
    return yield* ApiEnvelope.success({ parts: Object.keys(fields).length })
  }).pipe(Effect.scoped)

const streamed = (limit: Limit) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const parts = yield* limit(drained(request.multipartStream))
    return yield* ApiEnvelope.success({ parts: parts.length })
  })

const streamedWithin = (limit: StreamLimit) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const parts = yield* drained(limit(request.multipartStream))
    return yield* ApiEnvelope.success({ parts: parts.length })
  })

// The size of each file part as the handler has it, under `Multipart.withMaxFileSize`: the copy `multipart` writes,
// or the bytes of the part's `content`.
const fileSizes = {
  multipart: Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const fields = yield* fileLimit(request.multipart)
    const values = Object.values(fields).flat()
    const files = yield* Effect.forEach(
      values.filter(Multipart.isPersistedFile),
      (file) => Effect.promise(() => fs.promises.stat(file.path).then((stat) => stat.size))
    )
    return yield* ApiEnvelope.success({ parts: values.length, files })
  }).pipe(Effect.scoped),
  multipartStream: Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const sizes = yield* fileLimit(Stream.runCollect(Stream.mapEffect(
      request.multipartStream,
      (part) =>
        part._tag === "File"
          ? Stream.runFold(part.content, 0, (size, bytes) => size + bytes.length)
          : Effect.succeed(undefined)
    )))
    const files = Chunk.toReadonlyArray(sizes).filter((size) => size !== undefined)
    return yield* ApiEnvelope.success({ parts: sizes.length, files })
  }),
  // The content of the first file part only: the parts after it are never pulled.
  firstFile: Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const size = yield* fileLimit(Stream.runHead(Stream.mapEffect(
      Stream.filter(request.multipartStream, (part) => part._tag === "File"),
      (file) => Stream.runFold(file.content, 0, (size, bytes) => size + bytes.length)
    )))
    return yield* ApiEnvelope.success({ files: Option.toArray(size) })
  })
}

let router: HttpRouter.HttpRouter<unknown, unknown> = HttpRouter.empty
for (const [reader, sizes] of Object.entries(fileSizes)) {
  router = router.pipe(HttpRouter.post(`/fileSizes/${reader}`, sizes))
}
for (const [name, limit] of Object.entries(limits)) {
  router = router.pipe(
    HttpRouter.post(`/multipart/${name}`, whole(limit)),
    HttpRouter.post(`/multipartStream/${name}`, streamed(limit))
  )
}
for (const [name, limit] of Object.entries(streamLimits)) {
  router = router.pipe(HttpRouter.post(`/withinStream/${name}`, streamedWithin(limit)))
}

const config = {
  service: { name: "multipart-limits" },
  http: { body_limit_bytes: bodyLimit },
  rate_limit: { enabled: false }
}

interface Answer {
  readonly status: number | string
  readonly body?: Json
}

/**
 * Posts `body` with a `Content-Length`, or chunked (no length to check first), and reads the answer. With `rest`,
 * the body is `body + rest` (its `Content-Length` counts both) but only `body` is sent until the answer arrives:
 * the server answers a body over a limit before it has all of it.
 */
const post = (
  url: string,
  body: string,
  headers: Record<string, string>,
  chunked: boolean,
  rest?: string
): Effect.Effect<Answer> =>
  Effect.promise(() =>
    new Promise<Answer>((resolve) => {
      const length = chunked
        ? { "transfer-encoding": "chunked" }
        : { "content-length": String(Buffer.byteLength(body + (rest ?? ""))) }
      const req = http.request(url, { method: "POST", headers: { ...length, ...headers } }, (res) => {
        let text = ""
        res.setEncoding("utf8")
        res.on("data", (chunk: string) => (text += chunk))
        res.on("end", () => {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) })
          req.destroy()
        })
      })
      req.on("error", (e: NodeJS.ErrnoException) => resolve({ status: e.code ?? e.message }))
      for (let i = 0; i < body.length; i += 64) req.write(body.slice(i, i + 64))
      if (rest === undefined) req.end()
    })
  )

const boundary = "glam-multipart-limits"
const headers = { "content-type": `multipart/form-data; boundary=${boundary}` }
const field = (name: string, value: string) =>
  `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`
const file = (name: string, content: string) =>
  `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${name}.txt"\r\n` +
  `Content-Type: text/plain\r\n\r\n${content}\r\n`
const form = (...parts: ReadonlyArray<string>) => parts.join("") + `--${boundary}--\r\n`
// The start of a body over a limit; the rest of it (never sent) is `rest`.
const head = (...parts: ReadonlyArray<string>) => parts.join("")
const rest = field("rest", "r".repeat(64)) + `--${boundary}--\r\n`

// Per limit: a body within it, the start of a body over it, and the 413's details.
const cases: ReadonlyArray<readonly [string, string, string, Record<string, unknown>]> = [
  [
    "file",
    form(file("doc", "f".repeat(16)), field("a", "x")),
    head(field("a", "x"), file("doc", "f".repeat(maxFileSize * 4))),
    { max_bytes: maxFileSize, limit: "max_file_size" }
  ],
  [
    "field",
    form(field("a", "v".repeat(maxFieldSize))),
    head(field("a", "v".repeat(maxFieldSize * 4))),
    { max_bytes: maxFieldSize, limit: "max_field_size" }
  ],
  [
    "parts",
    form(...Array.from({ length: maxParts }, (_, i) => field(`p${i}`, "x"))),
    head(...Array.from({ length: maxParts + 2 }, (_, i) => field(`p${i}`, "x"))),
    { max_parts: maxParts }
  ],
  [
    "total",
    form(field("a", "t".repeat(64))),
    head(...Array.from({ length: 8 }, (_, i) => field(`t${i}`, "t".repeat(100)))),
    { max_bytes: maxTotalSize }
  ],
  [
    "totalOption",
    form(field("a", "t".repeat(64))),
    head(...Array.from({ length: 8 }, (_, i) => field(`t${i}`, "t".repeat(100)))),
    { max_bytes: maxTotalSize }
  ]
]

layer(serverLayer(Http.serve(router) as Layer.Layer<never, unknown>, config), { excludeTestServices: true })(
  "the app's own multipart limits",
  (it) => {
    it.effect("a body within each limit is read", () =>
      Effect.gen(function*() {
        const { url } = yield* TestServer
        for (const [name, within] of cases) {
          for (const reader of ["multipart", "multipartStream"]) {
            for (const chunked of [false, true]) {
              const answer = yield* post(`${url}/${reader}/${name}`, within, headers, chunked)
              expect(answer.status, `${reader}/${name}, chunked ${chunked}`).toBe(200)
              // Every part arrives.
              expect(answer.body.data.parts, `${reader}/${name}`).toBe(within.split(`--${boundary}\r\n`).length - 1)
            }
          }
        }
      }))

    it.effect("a body in a content coding is a 422 on body for both readers, never parsed as parts", () =>
      Effect.gen(function*() {
        const { url } = yield* TestServer
        const gzipped = new Uint8Array(zlib.gzipSync(form(field("a", "x"))))
        for (const reader of ["multipart", "multipartStream"]) {
          const answer = yield* Effect.promise(async () => {
            const res = await fetch(`${url}/${reader}/file`, {
              method: "POST",
              headers: { ...headers, "content-encoding": "gzip" },
              body: gzipped
            })
            return { status: res.status, body: await res.json() as Json }
          })
          expect(answer.status, reader).toBe(422)
          expect(answer.body.error.details.validation_errors, reader).toEqual([{
            field: "body",
            message: "Content-Encoding gzip is not supported: send the body without a content coding",
            type: "value_error"
          }])
        }
      }))

    // Each file part's own content counts toward `withMaxFileSize`: not the fields before it, not the other files.
    const fields = ["a", "b", "c"].map((name) => field(name, "x".repeat(maxFieldSize)))

    // Both readers, with a `Content-Length` or chunked: 200 with every part and each file's size.
    const readWhole = (body: string, files: ReadonlyArray<number>) =>
      Effect.gen(function*() {
        const { url } = yield* TestServer
        for (const reader of ["multipart", "multipartStream"]) {
          for (const chunked of [false, true]) {
            const answer = yield* post(`${url}/fileSizes/${reader}`, body, headers, chunked)
            const what = `${reader}, chunked ${chunked}`
            expect(answer.status, what).toBe(200)
            expect(answer.body.data, what).toEqual({ parts: body.split(`--${boundary}\r\n`).length - 1, files })
          }
        }
      })

    it.effect("fields each within withMaxFieldSize, together over withMaxFileSize, are read", () =>
      Effect.gen(function*() {
        expect(fields.join("").length).toBeGreaterThan(maxFileSize)
        yield* readWhole(form(...fields), [])
      }))

    it.effect("a file of withMaxFileSize bytes after fields over it is read whole", () =>
      readWhole(form(...fields, file("doc", "f".repeat(maxFileSize))), [maxFileSize]))

    it.effect("two files each within withMaxFileSize, together over it, are read whole", () =>
      readWhole(
        form(file("one", "1".repeat(maxFileSize)), field("a", "x"), file("two", "2".repeat(maxFileSize))),
        [maxFileSize, maxFileSize]
      ))

    // The whole body sent (the parser holds back the end of what has arrived until it knows it is no boundary), or
    // the rest of it held back until the answer arrives: a file part far over the limit is refused as it arrives.
    it.effect("a file over withMaxFileSize, after fields or alone, is a 413 max_file_size", () =>
      Effect.gen(function*() {
        const { url } = yield* TestServer
        const overs: ReadonlyArray<readonly [string, string | undefined]> = [
          [form(...fields, file("doc", "f".repeat(maxFileSize + 1))), undefined],
          [form(file("doc", "f".repeat(maxFileSize + 1))), undefined],
          // The second over the limit after the parser has failed at the first.
          [form(file("one", "1".repeat(maxFileSize * 2)), file("two", "2".repeat(maxFileSize * 2))), undefined],
          [head(...fields, file("doc", "f".repeat(maxFileSize * 4))), rest]
        ]
        for (const [over, held] of overs) {
          for (const reader of ["multipart", "multipartStream", "firstFile"]) {
            for (const chunked of [false, true]) {
              const answer = yield* post(`${url}/fileSizes/${reader}`, over, headers, chunked, held)
              const what = `${reader}, chunked ${chunked}, ${over.length} bytes, held back ${held !== undefined}`
              expect(answer.status, what).toBe(413)
              expect(answer.body.error, what).toEqual({
                code: "PAYLOAD_TOO_LARGE",
                message: "Request body too large",
                details: { max_bytes: maxFileSize, limit: "max_file_size" }
              })
            }
          }
        }
      }))

    for (const [name, , over, details] of cases) {
      it.effect(`over the ${name} limit: 413 PAYLOAD_TOO_LARGE with ${JSON.stringify(details)}`, () =>
        Effect.gen(function*() {
          const { url } = yield* TestServer
          const paths = [`/multipart/${name}`, `/multipartStream/${name}`]
          if (name in streamLimits) paths.push(`/withinStream/${name}`)
          for (const path of paths) {
            for (const chunked of [false, true]) {
              // The rest of the body held back until the answer arrives, or the whole body sent at once (the parser
              // reads on to its end after the limit: the failure, not that end, is the answer).
              for (const whole of [false, true]) {
                const answer = whole
                  ? yield* post(url + path, over + rest, headers, chunked)
                  : yield* post(url + path, over, headers, chunked, rest)
                const what = `${path}, chunked ${chunked}, whole ${whole}`
                expect(answer.status, what).toBe(413)
                expect(answer.body.error, what).toEqual({
                  code: "PAYLOAD_TOO_LARGE",
                  message: "Request body too large",
                  details
                })
              }
            }
          }
        }))
    }
  }
)

// An `HttpApi` endpoint whose multipart payload declares its own limits.
const UploadApi = HttpApi.make("uploads").add(
  HttpApiGroup.make("uploads").add(
    HttpApiEndpoint.post("upload", "/upload").addSuccess(Schema.Struct({ parts: Schema.Number })).setPayload(
      HttpApiSchema.Multipart(Schema.Struct({}), {
        maxParts: Option.some(maxParts),
        maxFieldSize,
        maxFileSize: Option.some(maxFileSize)
      })
    )
  )
)
const UploadLive = HttpApiBuilder.api(UploadApi).pipe(
  Layer.provide(
    HttpApiBuilder.group(
      UploadApi,
      "uploads",
      (handlers) => handlers.handle("upload", ({ payload }) => Effect.succeed({ parts: Object.keys(payload).length }))
    )
  )
)

layer(
  serverLayer(
    Http.serveApi({ rateLimit: false }).pipe(Layer.provide(UploadLive)) as Layer.Layer<never, unknown>,
    config
  ),
  { excludeTestServices: true }
)("the multipart limits of an HttpApi payload", (it) => {
  it.effect("a 413 PAYLOAD_TOO_LARGE naming the endpoint's limit", () =>
    Effect.gen(function*() {
      const { url } = yield* TestServer
      // Fields together over the file limit, a file of the file limit after them.
      const fields = ["a", "b"].map((name) => field(name, "x".repeat(maxFieldSize)))
      for (const body of [form(field("a", "x")), form(...fields, file("doc", "f".repeat(maxFileSize)))]) {
        const within = yield* post(`${url}/upload`, body, headers, false)
        expect(within.status).toBe(200)
        expect(within.body).toEqual({ parts: body.split(`--${boundary}\r\n`).length - 1 })
      }
      const refused: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
        [head(...fields, file("doc", "f".repeat(maxFileSize * 4))), { max_bytes: maxFileSize, limit: "max_file_size" }],
        [head(field("a", "v".repeat(maxFieldSize * 4))), { max_bytes: maxFieldSize, limit: "max_field_size" }],
        [head(...Array.from({ length: maxParts + 2 }, (_, i) => field(`p${i}`, "x"))), { max_parts: maxParts }]
      ]
      for (const [over, details] of refused) {
        for (const chunked of [false, true]) {
          const answer = yield* post(`${url}/upload`, over, headers, chunked, rest)
          expect(answer.status, `chunked ${chunked}`).toBe(413)
          expect(answer.body.error, `chunked ${chunked}`).toEqual({
            code: "PAYLOAD_TOO_LARGE",
            message: "Request body too large",
            details
          })
        }
      }
    }))
})
