import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { StartupError } from "../src/GlamLive.js"
import * as Correlation from "../src/Telemetry/Correlation.js"
import * as GlamLogger from "../src/Telemetry/GlamLogger.js"
import * as Telemetry from "../src/Telemetry/Telemetry.js"

const capture = () => {
  const lines: Array<string> = []
  return { lines, sink: (line: string) => void lines.push(line) }
}

const withLogger = (options: Omit<GlamLogger.Options, "sink"> & { readonly level?: LogLevel.LogLevel }) => {
  const { lines, sink } = capture()
  return { lines, layer: GlamLogger.layer({ ...options, sink }) }
}

// it.effect runs on the TestClock, whose time starts at the epoch
const epoch = new Date(0)
const pad = (n: number) => n.toString().padStart(2, "0")
const epochLocal = `${epoch.getFullYear()}-${pad(epoch.getMonth() + 1)}-${pad(epoch.getDate())} ` +
  `${pad(epoch.getHours())}:${pad(epoch.getMinutes())}:${pad(epoch.getSeconds())}`

/** Half of a surrogate pair without its other half. */
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

const parseJson = (line: string): Record<string, unknown> => JSON.parse(line) as Record<string, unknown>

describe("Telemetry/GlamLogger", () => {
  it.effect("console lines follow the seed's format", () =>
    Effect.gen(function*() {
      const { layer, lines } = withLogger({ service: "catalog-service", environment: "dev", format: "console" })
      yield* Effect.gen(function*() {
        yield* Effect.log("Service started")
        yield* Effect.logInfo("Creating order").pipe(
          Effect.annotateLogs("order_id", "789"),
          Correlation.withCorrelationId("corr_4f9a1c2b7d3e"),
          Correlation.withRequestId("req_0123456789ab")
        )
        yield* Effect.logWarning("slow", 250)
      }).pipe(Effect.provide(layer))
      expect(lines).toEqual([
        `${epochLocal} - catalog-service - INFO - Service started`,
        `${epochLocal} - catalog-service - INFO - [request_id=req_0123456789ab correlation_id=corr_4f9a1c2b7d3e order_id=789] - Creating order`,
        `${epochLocal} - catalog-service - WARNING - slow 250`
      ])
    }))

  it.effect("console lines append the cause", () =>
    Effect.gen(function*() {
      const { layer, lines } = withLogger({ service: "catalog-service", environment: "dev", format: "console" })
      yield* Effect.logError("Connection failed", new Error("ECONNREFUSED 127.0.0.1:5432")).pipe(
        Effect.provide(layer)
      )
      expect(lines).toHaveLength(1)
      const [first, ...rest] = lines[0]!.split("\n")
      expect(first).toBe(
        `${epochLocal} - catalog-service - ERROR - Connection failed Error: ECONNREFUSED 127.0.0.1:5432`
      )
      expect(rest).toEqual([])

      lines.length = 0
      yield* Effect.fail(new Error("boom")).pipe(
        Effect.tapErrorCause((cause) => Effect.logError("Failed to process", cause)),
        Effect.ignore,
        Effect.provide(layer)
      )
      const [head, ...trace] = lines[0]!.split("\n")
      expect(head).toBe(`${epochLocal} - catalog-service - ERROR - Failed to process`)
      expect(trace[0]).toContain("Error: boom")
    }))

  it.effect("a console record is one line: control characters in the message and values are escaped", () =>
    Effect.gen(function*() {
      const { layer, lines } = withLogger({ service: "catalog-service", environment: "dev", format: "console" })
      const forged = `${epochLocal} - catalog-service - INFO - admin logged in`
      yield* Effect.logWarning(`login failed for bob\n${forged}`, "\r\u001b[2K\u2028\u2029\u0085\u009b\u0000\t!").pipe(
        Effect.annotateLogs({ user: `bob\r\n${forged}`, "key\nx": "v" }),
        // A line break in an id keeps it from being set (no header could carry it); a C1 control is escaped.
        // Set on the FiberRef directly: the setters refuse an id no header can carry; the logger escapes it still.
        Effect.locally(Correlation.currentCorrelationId, Option.some("corr\u00851")),
        Effect.provide(layer)
      )
      expect(lines).toStrictEqual([
        `${epochLocal} - catalog-service - WARNING - ` +
        `[correlation_id="corr\\u00851" "key\\nx"=v user="bob\\r\\n${forged}"] - ` +
        `login failed for bob\\n${forged} \\r\\u001b[2K\\u2028\\u2029\\u0085\\u009b\\u0000\\t!`
      ])
    }))

  it.effect("a console field's value cannot read as another field or end the bracket: such a value is quoted", () =>
    Effect.gen(function*() {
      const { layer, lines } = withLogger({ service: "catalog-service", environment: "dev", format: "console" })
      yield* Effect.logInfo("login").pipe(
        Effect.annotateLogs({
          user: "x] - admin logged in",
          note: "a correlation_id=forged",
          quote: "say \"hi\" \\ bye",
          empty: "",
          "a key": "v",
          path: "/orders/1\\2"
        }),
        Correlation.withCorrelationId("corr_1"),
        Effect.provide(layer)
      )
      expect(lines).toHaveLength(1)
      const line = lines[0]!
      expect(line.startsWith(`${epochLocal} - catalog-service - INFO - [correlation_id=corr_1 `)).toBe(true)
      expect(line.endsWith("\"] - login") || line.endsWith("] - login")).toBe(true)
      expect(line).toContain(` user="x] - admin logged in"`)
      expect(line).toContain(` note="a correlation_id=forged"`)
      expect(line).toContain(` quote="say \\"hi\\" \\\\ bye"`)
      expect(line).toContain(` empty=""`)
      expect(line).toContain(` "a key"=v`)
      // A value with none of those is written as it is, a backslash included.
      expect(line).toContain(` path=/orders/1\\2`)
      // Read back as logfmt, the bracket holds these fields and no other.
      const bracket = line.slice(line.indexOf("[") + 1, line.lastIndexOf("] - login"))
      const fields = [...bracket.matchAll(/("(?:[^"\\]|\\.)*"|[^\s="]+)=("(?:[^"\\]|\\.)*"|\S+)/g)].map((m) => m[1])
      expect(fields.sort()).toEqual(["\"a key\"", "correlation_id", "empty", "note", "path", "quote", "user"])
    }))

  it.effect("a console record's cause follows on lines indented so that none reads as a record", () =>
    Effect.gen(function*() {
      const { layer, lines } = withLogger({ service: "catalog-service", environment: "dev", format: "console" })
      const forged = `${epochLocal} - catalog-service - INFO - admin logged in`
      yield* Effect.fail(new Error(`bad input\n${forged}\r${forged}\u2028${forged}\u001b[2K`)).pipe(
        Effect.tapErrorCause((cause) => Effect.logError("Failed to process", cause)),
        Effect.ignore,
        Effect.provide(layer)
      )
      expect(lines).toHaveLength(1)
      const [head, ...trace] = lines[0]!.split("\n")
      expect(head).toBe(`${epochLocal} - catalog-service - ERROR - Failed to process`)
      expect(trace.slice(0, 4)).toStrictEqual([
        "  Error: bad input",
        `  ${forged}`,
        `  ${forged}`,
        `  ${forged}\\u001b[2K`
      ])
      expect(trace.length).toBeGreaterThan(4) // the stack
      for (const line of trace) expect(line).toMatch(/^ {2}/)
      expect(lines[0]).not.toMatch(/[\r\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/)
    }))

  it.effect("a failure logged on its own: its message's first line is the record, the others indented below", () =>
    Effect.gen(function*() {
      const { layer, lines } = withLogger({ service: "catalog-service", environment: "dev", format: "console" })
      const problems =
        "Invalid configuration:\n- http.port: expected a port\n- a\u001b[2K\r2024-01-15 - svc - INFO - forged"
      yield* Effect.logError(Cause.fail(new StartupError({ message: problems }))).pipe(Effect.provide(layer))
      const [record, ...below] = lines[0]!.split("\n")
      expect(record).toBe(`${epochLocal} - catalog-service - ERROR - Invalid configuration:`)
      expect(below).toStrictEqual([
        "  - http.port: expected a port",
        "  - a\\u001b[2K",
        "  2024-01-15 - svc - INFO - forged"
      ])
    }))

  it.effect("a JSON record is one line whatever its strings hold, Unicode line breaks included", () =>
    Effect.gen(function*() {
      const { layer, lines } = withLogger({ service: "catalog-service", environment: "prod", format: "json" })
      const message = "a\nb\rc\u2028d\u2029e\u0085f\u001b[2Kg\u007fh"
      yield* Effect.fail(new Error(message)).pipe(
        Effect.tapErrorCause((cause) => Effect.logError(message, cause)),
        Effect.annotateLogs("user", message),
        Effect.ignore,
        Effect.provide(layer)
      )
      expect(lines).toHaveLength(1)
      expect(lines[0]!.split(/\r\n|[\n\r\u000b\u000c\u001c-\u001e\u0085\u2028\u2029]/)).toHaveLength(1)
      expect(lines[0]).toContain("c\\u2028d\\u2029e\\u0085f\\u001b[2Kg\\u007fh")
      const record = parseJson(lines[0]!)
      expect(record.message).toBe(message)
      expect(record.user).toBe(message)
      expect(record.exception).toContain(message)
    }))

  it.effect("JSON lines carry the seed's fields, the ids, the span, annotations and the exception", () =>
    Effect.gen(function*() {
      const { layer, lines } = withLogger({ service: "catalog-service", environment: "prod", format: "json" })
      const span = yield* Effect.gen(function*() {
        yield* Effect.fail(new Error("boom")).pipe(
          Effect.tapErrorCause((cause) => Effect.logError("Failed to process", cause)),
          Effect.ignore
        )
        return yield* Effect.currentSpan
      }).pipe(
        Effect.annotateLogs({ order_id: "789", attempt: 2, nested: { a: [1, 2] }, message: "not overwritten" }),
        Effect.withSpan("Orders.create"),
        Correlation.withCorrelationId("corr_4f9a1c2b7d3e"),
        Correlation.withRequestId("req_0123456789ab"),
        Effect.provide(layer)
      )
      expect(lines).toHaveLength(1)
      const record = parseJson(lines[0]!)
      expect(Object.keys(record).slice(0, 5)).toEqual(["timestamp", "service", "level", "message", "environment"])
      expect(record).toMatchObject({
        timestamp: "1970-01-01T00:00:00.000Z",
        service: "catalog-service",
        level: "ERROR",
        message: "Failed to process",
        environment: "prod",
        request_id: "req_0123456789ab",
        correlation_id: "corr_4f9a1c2b7d3e",
        trace_id: span.traceId,
        span_id: span.spanId,
        order_id: "789",
        attempt: 2,
        nested: { a: [1, 2] }
      })
      expect(record.exception).toEqual(expect.stringContaining("Error: boom"))
    }))

  it.effect("JSON lines leave out ids that are not set", () =>
    Effect.gen(function*() {
      const { layer, lines } = withLogger({ service: "svc", environment: "staging", format: "json" })
      yield* Effect.logInfo("plain").pipe(Effect.provide(layer))
      expect(parseJson(lines[0]!)).toEqual({
        timestamp: "1970-01-01T00:00:00.000Z",
        service: "svc",
        level: "INFO",
        message: "plain",
        environment: "staging"
      })
    }))

  it.effect("Redacted values print as <redacted> in both formats", () =>
    Effect.gen(function*() {
      const secret = Redacted.make("hunter2")
      const program = Effect.log("connecting with", secret, { password: secret }).pipe(
        Effect.annotateLogs("token", secret)
      )
      const json = withLogger({ service: "svc", environment: "prod", format: "json" })
      const console = withLogger({ service: "svc", environment: "dev", format: "console" })
      yield* Effect.provide(program, json.layer)
      yield* Effect.provide(program, console.layer)
      for (const line of [...json.lines, ...console.lines]) expect(line).not.toContain("hunter2")
      expect(parseJson(json.lines[0]!)).toMatchObject({
        message: "connecting with <redacted> {\"password\":\"<redacted>\"}",
        token: "<redacted>"
      })
      expect(console.lines[0]).toBe(
        `${epochLocal} - svc - INFO - [token=<redacted>] - connecting with <redacted> {"password":"<redacted>"}`
      )
    }))

  it.effect("the level comes from logging.level, else log_level, with Python's names", () =>
    Effect.gen(function*() {
      const run = (json: object) => {
        const { lines, sink } = capture()
        return Effect.gen(function*() {
          yield* Effect.logDebug("debug")
          yield* Effect.logInfo("info")
          yield* Effect.logWarning("warning")
          yield* Effect.logError("error")
          yield* Effect.logFatal("fatal")
        }).pipe(
          Effect.provide(
            Telemetry.layerConfig({ logSink: sink }).pipe(
              Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson({ service: { name: "svc" }, ...json })))
            )
          ),
          Effect.map(() => lines.map((line) => line.split(" - ")[2]))
        )
      }
      expect(yield* run({})).toEqual(["INFO", "WARNING", "ERROR", "CRITICAL"])
      expect(yield* run({ logging: { level: "WARNING" } })).toEqual(["WARNING", "ERROR", "CRITICAL"])
      expect(yield* run({ logging: { level: "debug" } })).toEqual(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
      expect(yield* run({ log_level: "ERROR" })).toEqual(["ERROR", "CRITICAL"])
      expect(yield* run({ log_level: "ERROR", logging: { level: "CRITICAL" } })).toEqual(["CRITICAL"])
      const invalid = yield* Effect.flip(run({ logging: { level: "LOUD" } }))
      expect(String(invalid)).toContain("LOUD")
    }))

  it.effect("app_env=prod selects JSON lines; logging.format overrides", () =>
    Effect.gen(function*() {
      const firstLine = (json: object) => {
        const { lines, sink } = capture()
        return Effect.log("hello").pipe(
          Effect.provide(
            Telemetry.layerConfig({ logSink: sink }).pipe(
              Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson({ service: { name: "svc" }, ...json })))
            )
          ),
          Effect.map(() => lines[0]!)
        )
      }
      expect(parseJson(yield* firstLine({ app_env: "prod" }))).toMatchObject({ environment: "prod", service: "svc" })
      expect(yield* firstLine({ app_env: "dev" })).toBe(`${epochLocal} - svc - INFO - hello`)
      expect(yield* firstLine({ app_env: "prod", logging: { format: "console" } })).toBe(
        `${epochLocal} - svc - INFO - hello`
      )
      expect(parseJson(yield* firstLine({ logging: { format: "json" } }))).toMatchObject({ environment: "dev" })
    }))

  it.effect("a value that throws when read never fails the logging fiber: it is written as [unrenderable]", () =>
    Effect.gen(function*() {
      const getter = {
        id: 7,
        get secret(): string {
          throw new Error("getter")
        }
      }
      const toJSON = {
        toJSON: () => {
          throw new Error("toJSON")
        }
      }
      const toStringAndJson = {
        toString: () => {
          throw new Error("toString")
        },
        toJSON: () => {
          throw new Error("x")
        }
      }
      const badMessage = new Error("bad")
      Object.defineProperty(badMessage, "message", {
        get: () => {
          throw new Error("message")
        }
      })
      const badStack = new Error("stack of its own")
      Object.defineProperty(badStack, "stack", {
        get: () => {
          throw new Error("stack")
        }
      })
      const program = Effect.gen(function*() {
        yield* Effect.log("getter").pipe(Effect.annotateLogs({ order_id: "789", a: getter }))
        yield* Effect.log("toJSON", toJSON).pipe(Effect.annotateLogs({ order_id: "789", a: toJSON }))
        yield* Effect.log(toStringAndJson).pipe(Effect.annotateLogs({ order_id: "789", a: toStringAndJson }))
        yield* Effect.log(badMessage).pipe(Effect.annotateLogs({ order_id: "789", a: badMessage }))
        yield* Effect.logError(Cause.fail(badStack))
        yield* Effect.logError("failed", Cause.die(badMessage))
        return "still running"
      })
      const json = withLogger({ service: "svc", environment: "prod", format: "json" })
      const console = withLogger({ service: "svc", environment: "dev", format: "console" })
      expect(yield* Effect.provide(program, json.layer)).toBe("still running")
      expect(yield* Effect.provide(program, console.layer)).toBe("still running")
      // The first run's logger stays in the test's fiber: its first six lines are the JSON run's.
      const records = json.lines.slice(0, 6).map(parseJson)
      expect(records.map((r) => [r.message, r.order_id, r.a])).toEqual([
        ["getter", "789", { id: 7, secret: "[unrenderable]" }],
        ["toJSON \"[unrenderable]\"", "789", "[unrenderable]"],
        ["\"[unrenderable]\"", "789", "[unrenderable]"],
        ["[unrenderable]", "789", { name: "Error", message: "[unrenderable]" }],
        ["stack of its own", undefined, undefined],
        ["failed", undefined, undefined]
      ])
      expect(records.map((r) => r.level)).toEqual(["INFO", "INFO", "INFO", "INFO", "ERROR", "ERROR"])
      expect(records[5]!.exception).toBe("[unrenderable]")
      expect(console.lines).toHaveLength(6)
      expect(console.lines[0]).toContain(`a={"id":7,"secret":"[unrenderable]"}`)
      expect(console.lines[0]).toMatch(/order_id=789.* - getter$/)
      expect(console.lines[3]).toMatch(/^.* - svc - INFO - \[.*a=\[unrenderable\].*\] - \[unrenderable\]$/)
    }))

  it.effect("an object written twice in a line is written twice; only a cycle is [Circular]", () =>
    Effect.gen(function*() {
      const { layer, lines } = withLogger({ service: "svc", environment: "prod", format: "json" })
      const shared = { v: 1 }
      const cycle: Record<string, unknown> = { name: "loop" }
      cycle.self = cycle
      yield* Effect.log("shared", { first: shared, second: shared, list: [shared, shared] }).pipe(
        Effect.annotateLogs({ a: shared, b: shared, cycle }),
        Effect.provide(layer)
      )
      expect(parseJson(lines[0]!)).toMatchObject({
        message: "shared {\"first\":{\"v\":1},\"second\":{\"v\":1},\"list\":[{\"v\":1},{\"v\":1}]}",
        a: { v: 1 },
        b: { v: 1 },
        cycle: { name: "loop", self: "[Circular]" }
      })
    }))

  it.effect("a \"__proto__\" key of a logged value (JSON.parse makes it an own key) is written as a key", () =>
    Effect.gen(function*() {
      const json = withLogger({ service: "svc", environment: "prod", format: "json" })
      const console = withLogger({ service: "svc", environment: "dev", format: "console" })
      const received = JSON.parse("{\"__proto__\":{\"isAdmin\":true},\"name\":\"ada\"}") as object
      // A part that throws when read: the value is written part by part.
      const throwing = Object.defineProperty(received, "bad", {
        enumerable: true,
        get: () => {
          throw new Error("unreadable")
        }
      })
      for (const { layer } of [json, console]) {
        yield* Effect.log("received", throwing).pipe(
          Effect.annotateLogs({ body: throwing }),
          Effect.annotateLogs("__proto__", { isAdmin: true }),
          Effect.provide(layer)
        )
      }
      const text = "{\"__proto__\":{\"isAdmin\":true},\"name\":\"ada\",\"bad\":\"[unrenderable]\"}"
      expect(json.lines[0]).toContain(`"message":${JSON.stringify(`received ${text}`)}`)
      expect(json.lines[0]).toContain(`"body":${text}`)
      expect(json.lines[0]).toContain(`"__proto__":{"isAdmin":true}`)
      expect(console.lines[0]).toContain(`body=${text}`)
      expect(console.lines[0]!.endsWith(`- received ${text}`)).toBe(true)
    }))

  it.effect("a huge message, annotation, id or error is cut at logging.max_field_length, saying how much", () =>
    Effect.gen(function*() {
      // 😀 (two UTF-16 code units) straddles each cut: the line keeps no half of it.
      const huge = "a".repeat(15) + "😀".repeat(2_000_000)
      const cut = `${"a".repeat(15)}... (${huge.length - 15} more characters)`
      for (const format of ["console", "json"] as const) {
        const { layer, lines } = withLogger({ service: "svc", environment: "dev", format, maxFieldLength: 16 })
        yield* Effect.logError(huge, Cause.fail(new Error(huge))).pipe(
          Effect.annotateLogs({ header: huge, [huge]: "key", order: { note: huge } }),
          // Set on the FiberRef directly: the setters refuse an id over 128 characters; the logger cuts it still.
          Effect.locally(Correlation.currentCorrelationId, Option.some(huge)),
          Effect.provide(layer)
        )
        expect(lines).toHaveLength(1)
        const line = lines[0]!
        expect(line.length).toBeLessThan(2000)
        expect(line).not.toMatch(loneSurrogate)
        expect(line).toContain(cut)
        expect(line).not.toContain("😀")
        if (format === "json") {
          const record = parseJson(line)
          expect(record.message).toBe(cut)
          expect(record.header).toBe(cut)
          expect(record.correlation_id).toBe(cut)
          expect(record.order).toMatch(/^\{"note":"aaaaaaa\.\.\. \(\d+ more characters\)$/)
          expect(record.exception).toMatch(/ more characters\)$/)
        }
      }
      // The default keeps 16384 code units.
      const { layer, lines } = withLogger({ service: "svc", environment: "dev", format: "json" })
      yield* Effect.log("x".repeat(100_000)).pipe(Effect.provide(layer))
      expect(parseJson(lines[0]!).message).toBe(`${"x".repeat(16384)}... (${100_000 - 16384} more characters)`)
    }))

  it.effect("a sink that throws loses its line, never the fiber that logs", () =>
    Effect.gen(function*() {
      const layer = GlamLogger.layer({
        service: "svc",
        environment: "dev",
        format: "console",
        sink: () => {
          throw new Error("sink")
        }
      })
      expect(yield* Effect.log("hello").pipe(Effect.as("still running"), Effect.provide(layer))).toBe("still running")
    }))
})
