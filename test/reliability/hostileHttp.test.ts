/**
 * Scenario 9, hostile HTTP: the example catalog service (its routes and migrations, on the toolkit's whole HTTP stack,
 * JWT auth on its writes, the test-owned PostgreSQL) in a process of its own, sent a corpus of hostile requests over
 * raw sockets: CRLF and oversized headers, bare LF, request smuggling, huge and deeply nested bodies, extreme
 * pagination, injection strings in every parameter, unknown routes and methods, forged and `alg: none` tokens.
 * No answer is a 5xx, no request header comes back unsanitized, no body shows internal text (a stack, a file path,
 * SQL or the driver's words), every forged token is refused and writes nothing, and the server still answers normal
 * requests.
 */
import { Effect } from "effect"
import * as jose from "jose"
import * as net from "node:net"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { waitFor } from "../support/natsServer.js"
import { toolAvailable } from "../support/tools.js"
import { withDb } from "./support/db.js"
import { httpPort } from "./support/ports.js"
import { startPostgres } from "./support/postgres.js"
import { report } from "./support/report.js"
import { logDir } from "./support/settings.js"
import { startWorker } from "./support/worker.js"

const ready = toolAvailable("initdb") && toolAvailable("pg_ctl")
const cleanup: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined)
})

interface Answer {
  readonly status: number | undefined
  readonly head: string
  readonly body: string
  /** The server closed the connection without an answer. */
  readonly closed: boolean
}

/** Writes `data` on a new connection and reads until the server closes it (bounded). */
const exchange = (port: number, data: string | Buffer, timeoutMs = 30_000): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    const socket = net.connect(port, "127.0.0.1")
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no end of the exchange within ${timeoutMs} ms: ${JSON.stringify(String(data).slice(0, 200))}`))
    }, timeoutMs)
    const finish = () => {
      clearTimeout(timer)
      const text = Buffer.concat(chunks).toString("latin1")
      const split = text.indexOf("\r\n\r\n")
      const head = split < 0 ? text : text.slice(0, split)
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]
      resolve({
        status: status === undefined ? undefined : Number(status),
        head,
        body: split < 0 ? "" : text.slice(split + 4),
        closed: text.length === 0
      })
    }
    socket.on("data", (chunk: Buffer) => chunks.push(chunk))
    // The server may answer (413, 431, 400) and close while the request is still being written.
    socket.on("error", () => socket.destroy())
    socket.on("close", finish)
    // Not half-closed after the request: a server may take a client's FIN for an abort. Every request asks for
    // `Connection: close` (or is one the server refuses and closes on).
    socket.on("connect", () => {
      socket.write(data)
    })
  })

const merchant = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
const syncsPath = `/api/v1/merchants/${merchant}/syncs`
/** In every hostile header value: none may come back in a response's headers. */
const marker = "glamhostile"

const request = (
  method: string,
  target: string,
  headers: ReadonlyArray<string> = [],
  body?: string | Buffer
): Buffer => {
  const lines = [`${method} ${target} HTTP/1.1`, "Host: 127.0.0.1", "Connection: close", ...headers]
  if (body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(body)}`)
  return Buffer.concat([Buffer.from(lines.join("\r\n") + "\r\n\r\n", "latin1"), Buffer.from(body ?? "")])
}
const json = (value: string) => ["Content-Type: application/json", ...(value === "" ? [] : [value])]

/** Strings an attacker puts in every parameter. */
const injections = [
  "' OR '1'='1",
  "1; DROP TABLE syncs; --",
  "\" OR \"\"=\"",
  "../../../../etc/passwd",
  "..%2f..%2f..%2fetc%2fpasswd",
  "<script>alert(1)</script>",
  "${jndi:ldap://127.0.0.1/a}",
  "{{7*7}}",
  "%00",
  "%ff%fe%fd",
  "$where: 1",
  "a".repeat(5_000)
]
const encoded = (s: string) => encodeURIComponent(s)

/** Text that is the server's, not the request's: stack frames, source paths, SQL and the driver's messages. */
const internal = [
  /\bat [\w.<>$]+ \(/,
  /\.(ts|js|mjs|cjs):\d+/,
  /node_modules|\/work\/|\/home\/|\/usr\/|\/tmp\/|file:\/\//,
  /\bSELECT\b[\s\S]*\bFROM\b/i,
  /\bINSERT INTO\b/i,
  /syntax error at or near|relation "|column "|duplicate key|violates|invalid input syntax/i,
  /\b(Type|Reference|Syntax|Range)Error\b/,
  /\bstack\b/i,
  /postgres|PgClient|SqlError/i
]

describe.skipIf(!ready)("reliability: hostile HTTP", () => {
  it("a corpus of hostile requests: no 5xx, nothing echoed or leaked, forged tokens refused, service answers", async () => {
    const logs = logDir("http")
    const pg = await startPostgres()
    cleanup.push(pg.dispose)
    const port = await httpPort()
    const secret = "reliability-hostile-http-secret-0123456789abcdef"
    const service = startWorker("http", {
      servers: [],
      stream: "RELHTTP",
      service: "reliability-http",
      port,
      secret,
      postgres: { port: pg.port, user: pg.user, database: pg.database }
    }, path.join(logs, "service.log"))
    cleanup.push(service.kill)
    await waitFor(
      async () => (await exchange(port, request("GET", "/api/v1/health")).catch(() => undefined))?.status === 200,
      120_000,
      "the service answering"
    )

    const key = new TextEncoder().encode(secret)
    const sign = (claims: jose.JWTPayload, header: jose.JWTHeaderParameters, k: Uint8Array, exp: string = "5m") =>
      new jose.SignJWT(claims).setProtectedHeader(header).setSubject("writer").setExpirationTime(exp).sign(k)
    const valid = await sign({ permissions: ["catalog:write"] }, { alg: "HS256" }, key)
    const bearer = `Authorization: Bearer ${valid}`
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")
    const now = Math.floor(Date.now() / 1000)
    const forged: ReadonlyArray<readonly [string, string]> = [
      ["other secret", await sign({}, { alg: "HS256" }, new TextEncoder().encode(`${secret}-not`))],
      ["alg none", `${b64({ alg: "none", typ: "JWT" })}.${b64({ sub: "writer", exp: now + 300 })}.`],
      ["alg None", `${b64({ alg: "None" })}.${b64({ sub: "writer", exp: now + 300 })}.`],
      ["alg HS512 on the secret", await sign({}, { alg: "HS512" }, key)],
      ["expired", await sign({}, { alg: "HS256" }, key, "-10m")],
      ["no exp", await new jose.SignJWT({ sub: "writer" }).setProtectedHeader({ alg: "HS256" }).sign(key)],
      ["tampered payload", valid.replace(/\.[^.]+\./, `.${b64({ sub: "admin", exp: now + 300 })}.`)],
      ["kid traversal", await sign({}, { alg: "HS256", kid: `../../../../dev/null${marker}` }, new Uint8Array(1))],
      ["refresh token", await sign({ type: "refresh" }, { alg: "HS256" }, key)],
      ["garbage", `${marker}.${marker}.${marker}`],
      ["huge", `${b64({ alg: "HS256" })}.${"A".repeat(60_000)}.x`]
    ]

    const body = (source: string) => JSON.stringify({ source, sync_type: "full" })
    const cases: Array<{ readonly name: string; readonly data: Buffer; readonly expect?: ReadonlyArray<number> }> = [
      // Headers: CRLF, folding, oversized, many, hostile values of the headers the stack reads.
      { name: "bare CR in a header value", data: request("GET", syncsPath, [`X-Note: a\rSet-Cookie: ${marker}=1`]) },
      { name: "obs-fold header", data: request("GET", syncsPath, ["X-Note: a", ` Set-Cookie: ${marker}=1`]) },
      { name: "header without colon", data: request("GET", syncsPath, [`${marker} injected`]) },
      { name: "NUL in a header", data: request("GET", syncsPath, [`X-Note: a\u0000${marker}`]) },
      // Answered while the request is still arriving, and read whole: the server closes the connection lingering.
      {
        name: "oversized header",
        data: request("GET", syncsPath, [`X-Big: ${marker}${"a".repeat(100_000)}`]),
        expect: [431]
      },
      {
        name: "5000 headers",
        data: request("GET", syncsPath, Array.from({ length: 5_000 }, (_, i) => `X-H${i}: ${marker}`)),
        expect: [431]
      },
      { name: "hostile X-Request-ID", data: request("GET", syncsPath, [`X-Request-ID: ${marker}<script>"'`]) },
      { name: "hostile X-Correlation-ID", data: request("GET", syncsPath, [`X-Correlation-ID: ${marker}' OR 1=1`]) },
      { name: "hostile traceparent", data: request("GET", syncsPath, [`traceparent: 00-${marker}-zz-01`]) },
      { name: "hostile Origin", data: request("GET", syncsPath, [`Origin: http://${marker}.example`]) },
      { name: "hostile X-Forwarded-For", data: request("GET", syncsPath, [`X-Forwarded-For: ${marker}, 1.1.1.1`]) },
      { name: "hostile Accept", data: request("GET", syncsPath, [`Accept: ${marker}/${marker}`]) },
      {
        name: "CRLF percent-encoded in the query",
        data: request("GET", `${syncsPath}?page=1%0d%0aSet-Cookie:${marker}`)
      },
      { name: "CRLF percent-encoded in the path", data: request("GET", `/api/v1/${marker}%0d%0aSet-Cookie:x`) },
      // Framing.
      {
        name: "bare LF line endings",
        data: Buffer.from("GET /api/v1/health HTTP/1.1\nHost: 127.0.0.1\nConnection: close\n\n")
      },
      { name: "request line garbage", data: Buffer.from(`${marker}\r\n\r\n`) },
      { name: "binary request", data: Buffer.from([0, 1, 2, 3, 255, 254, 13, 10, 13, 10]) },
      { name: "HTTP/0.9 request", data: Buffer.from("GET /\r\n\r\n") },
      { name: "HTTP/1.0 without Host", data: Buffer.from("GET /api/v1/health HTTP/1.0\r\n\r\n") },
      { name: "unknown HTTP version", data: Buffer.from("GET /api/v1/health HTTP/9.9\r\nHost: x\r\n\r\n") },
      {
        name: "Content-Length with Transfer-Encoding",
        data: Buffer.from(
          `POST ${syncsPath} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${bearer}\r\nContent-Type: application/json\r\n` +
            "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
        )
      },
      {
        name: "two Content-Lengths",
        data: Buffer.from(
          `POST ${syncsPath} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${bearer}\r\nContent-Type: application/json\r\n` +
            "Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}"
        )
      },
      {
        name: "negative Content-Length",
        data: request("POST", syncsPath, [bearer, "Content-Type: application/json", "Content-Length: -1"])
      },
      {
        name: "bad chunk size",
        data: Buffer.from(
          `POST ${syncsPath} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${bearer}\r\nContent-Type: application/json\r\n` +
            "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"
        )
      },
      // Bodies (with a valid token, so that they reach the body limits and the decoder).
      // Refused on their Content-Length before the token is checked; the client reads the 413 while still writing.
      {
        name: "5 MB body",
        data: request("POST", syncsPath, json(bearer), `{"source":"${"a".repeat(5_000_000)}"}`),
        expect: [413]
      },
      {
        name: "5 MB body without a token",
        data: request("POST", syncsPath, json(""), "a".repeat(5_000_000)),
        expect: [413]
      },
      {
        name: "arrays nested 100 000 deep",
        data: request("POST", syncsPath, json(bearer), "[".repeat(100_000) + "]".repeat(100_000))
      },
      {
        name: "objects nested 5 000 deep",
        data: request("POST", syncsPath, json(bearer), "{\"a\":".repeat(5_000) + "1" + "}".repeat(5_000))
      },
      { name: "not JSON", data: request("POST", syncsPath, json(bearer), "{not json") },
      { name: "JSON of the wrong shape", data: request("POST", syncsPath, json(bearer), "[1,2,3]") },
      { name: "text/plain body", data: request("POST", syncsPath, [bearer, "Content-Type: text/plain"], "source=x") },
      {
        name: "__proto__ in the body",
        data: request("POST", syncsPath, json(bearer), "{\"__proto__\":{\"admin\":true},\"source\":42}")
      },
      {
        name: "invalid UTF-8 body",
        data: request("POST", syncsPath, json(bearer), Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))
      },
      // Pagination.
      ...[
        "page=0",
        "page=-1",
        "page=1e308",
        "page=99999999999999999999999",
        "page=NaN",
        "page=abc",
        "limit=0",
        "limit=1000000",
        "limit=-5",
        "page=1&page=2",
        "page[]=1",
        "page=0x10",
        "limit=1%00",
        "page=1.5",
        "page=2147483648&limit=100"
      ].map((query) => ({ name: `pagination ${query}`, data: request("GET", `${syncsPath}?${query}`) })),
      // Injection strings in every parameter: path, query, body (written with a valid token).
      ...injections.flatMap((value) => [
        { name: `merchant ${value.slice(0, 30)}`, data: request("GET", `/api/v1/merchants/${encoded(value)}/syncs`) },
        { name: `sync id ${value.slice(0, 30)}`, data: request("GET", `${syncsPath}/${encoded(value)}`) },
        {
          name: `query ${value.slice(0, 30)}`,
          data: request("GET", `${syncsPath}?page=${encoded(value)}&limit=${encoded(value)}`)
        },
        // Stored as it is, as data (the test checks the rows).
        { name: `body ${value.slice(0, 30)}`, data: request("POST", syncsPath, json(bearer), body(value)) },
        {
          name: `body sync_type ${value.slice(0, 30)}`,
          data: request("POST", syncsPath, json(bearer), JSON.stringify({ source: "probe", sync_type: value }))
        },
        {
          name: `POST merchant ${value.slice(0, 30)}`,
          data: request("POST", `/api/v1/merchants/${encoded(value)}/syncs`, json(bearer), body(value))
        }
      ]),
      // Unknown routes and methods.
      ...["/", "/api/v1/nope", "/api/v1/merchants", "/.env", "/..%2f..%2fetc%2fpasswd", "//", `/${"a/".repeat(5_000)}`]
        .map((target) => ({ name: `route ${target.slice(0, 30)}`, data: request("GET", target) })),
      ...["PUT", "DELETE", "PATCH", "TRACE", "OPTIONS", "PROPFIND", "BREW", "get"].map((method) => ({
        name: `method ${method}`,
        data: request(method, syncsPath, [bearer])
      })),
      {
        name: "CONNECT",
        data: Buffer.from("CONNECT 127.0.0.1:5432 HTTP/1.1\r\nHost: 127.0.0.1:5432\r\n\r\n"),
        // A tunnel, which the service does not open: answered like a method its routes do not take.
        expect: [405]
      },
      { name: "absolute-form target", data: request("GET", `http://${marker}.example${syncsPath}`) },
      // Authentication: every bad token refused on reads and writes, and a write without one.
      { name: "write without a token", data: request("POST", syncsPath, json(""), body("x")), expect: [401] },
      {
        name: "Basic credentials",
        data: request("POST", syncsPath, json("Authorization: Basic YTpi"), body("x")),
        expect: [401]
      },
      {
        name: "empty Bearer",
        data: request("POST", syncsPath, json("Authorization: Bearer "), body("x")),
        expect: [401]
      },
      ...forged.flatMap(([name, token]) => [
        {
          name: `token ${name} (write)`,
          data: request("POST", syncsPath, json(`Authorization: Bearer ${token}`), body(`forged ${name}`)),
          // A 60 KB token makes the headers too large (431) before it is read.
          expect: [401, 431]
        },
        {
          name: `token ${name} (read)`,
          data: request("GET", syncsPath, [`Authorization: Bearer ${token}`]),
          expect: [401, 431]
        }
      ])
    ]

    const failures: Array<string> = []
    const statuses = new Map<string, number>()
    const closed: Array<string> = []
    let created = 0
    for (const c of cases) {
      const answer = await exchange(port, c.data)
      const status = answer.status === undefined ? "closed" : String(answer.status)
      statuses.set(status, (statuses.get(status) ?? 0) + 1)
      if (answer.status === undefined) closed.push(c.name)
      if (answer.status === 201) created++
      if (answer.status !== undefined && answer.status >= 500) failures.push(`${c.name}: ${answer.status}`)
      if (c.expect !== undefined && !c.expect.includes(answer.status ?? 0)) {
        failures.push(`${c.name}: ${status}, expected ${c.expect.join("/")}`)
      }
      if (answer.head.toLowerCase().includes(marker)) failures.push(`${c.name}: a request value in the response head`)
      // What the request itself put there (a validation error may quote it, JSON-escaped) is not the server's text.
      let text = answer.body
      for (const value of injections) {
        text = text.split(JSON.stringify(value).slice(1, -1)).join("").split(value).join("")
      }
      const leak = internal.find((pattern) => pattern.test(text))
      if (leak !== undefined) failures.push(`${c.name}: body matches ${leak}: ${text.slice(0, 300)}`)
    }

    // Still serving: health, a read, an authorized write and its row.
    const health = await exchange(port, request("GET", "/api/v1/health"))
    const write = await exchange(port, request("POST", syncsPath, json(bearer), body("after the corpus")))
    const read = await exchange(port, request("GET", `${syncsPath}?page=1&limit=5`))
    const rows = await withDb(pg, (sql) =>
      Effect.map(
        sql<{ n: string; forged: string }>`SELECT count(*) AS n,
          count(*) FILTER (WHERE source LIKE 'forged%' OR source IN ('x', 'probe')) AS forged FROM syncs`,
        ([row]) => ({ total: Number(row!.n), forged: Number(row!.forged) })
      ))
    // Every injection string written with a valid token is in a row as it was sent: data, never SQL.
    const sources = await withDb(pg, (sql) => sql<{ source: string }>`SELECT source FROM syncs`)
    const verbatim = injections.filter((value) => sources.some((r) => r.source === value)).length
    const serviceErrors = service.logLines().filter((l) => /level=(ERROR|FATAL)/.test(l))
    report("hostile-http", {
      sent: cases.length,
      stored: rows.total,
      handled: cases.length - closed.length,
      lost: 0,
      duplicates: 0,
      "5xx": failures.filter((f) => /: 5\d\d$/.test(f)).length,
      "closed without answer": closed.length === 0 ? "none" : closed.join("/"),
      "injections stored verbatim": verbatim,
      "statuses": [...statuses].sort().map(([s, n]) => `${s}=${n}`).join(" "),
      "forged tokens refused": forged.length * 2,
      "rows written by bad tokens": rows.forged,
      "service error lines": serviceErrors.length,
      "after: health/write/read": `${health.status}/${write.status}/${read.status}`
    })
    expect(failures).toEqual([])
    expect(health.status).toBe(200)
    expect(write.status).toBe(201)
    expect(read.status).toBe(200)
    // Rows: the hostile writes with a valid token that were accepted, and the one after the corpus; none by a bad token.
    expect(rows.total).toBe(created + 1)
    expect(rows.forged).toBe(0)
    expect(verbatim).toBe(injections.length)
    expect(service.reports.filter((r) => r.type === "defect")).toEqual([])
  })
})
