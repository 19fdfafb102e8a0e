/**
 * What a message body may not do to a consumer: nest deep enough to exhaust the stack, round an integer, or repeat
 * a key. Each is refused before any schema runs, with a `ValidationError` naming where; nothing throws.
 */
import { describe, expect, it } from "@effect/vitest"
import { BigDecimal, Effect, Either, Option, Schema } from "effect"
import fc from "fast-check"
import { spawnSync } from "node:child_process"
import { ValidationError } from "../src/Errors/index.js"
import * as EventEnvelope from "../src/Events/EventEnvelope.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as PayloadSchemas from "../src/Events/PayloadSchemas.js"

interface Tree {
  readonly children: ReadonlyArray<Tree>
}
// A recursive payload schema: decoding it recurses once per level of the body.
const Tree: Schema.Schema<Tree> = Schema.Struct({ children: Schema.Array(Schema.suspend(() => Tree)) })
const TreeBuilt = EventDefinition.event("catalog.tree_built", Schema.Struct({ tree: Tree }))

const head = `"event_id":"e1","subject":"evt.catalog.tree_built","timestamp":"2026-11-21T14:03:27+00:00"`
const bodyWith = (payload: string) => `{${head},"payload":${payload}}`
/** A tree `levels` deep: an object and an array per level. */
const treeText = (levels: number) => "{\"children\":[".repeat(levels) + "]}".repeat(levels)
const arrays = (levels: number) => "[".repeat(levels) + "1" + "]".repeat(levels)

const details = (effect: Effect.Effect<unknown, ValidationError>) =>
  Effect.map(Effect.flip(effect), (e) => {
    expect(e).toBeInstanceOf(ValidationError)
    return e.details as { readonly field: string; readonly reason: string }
  })

describe("EventEnvelope: nesting is bounded", () => {
  it.effect("a payload thousands of levels deep is a ValidationError naming the field and the depth", () =>
    Effect.gen(function*() {
      const body = bodyWith(`{"tree":${treeText(3000)}}`)
      const refused = { field: "payload.tree", reason: "is nested deeper than 64 levels" }
      expect(yield* details(EventEnvelope.decode(TreeBuilt, body))).toStrictEqual(refused)
      expect(yield* details(EventEnvelope.decodeBody(new TextEncoder().encode(body)))).toStrictEqual(refused)
      const error = yield* Effect.flip(EventEnvelope.decode(TreeBuilt, body))
      expect(error.message).toBe("Invalid event body: payload.tree is nested deeper than 64 levels")
    }))

  it.effect("the default bound is 64 levels, the envelope being the first", () =>
    Effect.gen(function*() {
      expect(EventEnvelope.defaultMaxDepth).toBe(64)
      const within = yield* EventEnvelope.decodeBody(bodyWith(`{"a":${arrays(62)}}`))
      expect(Object.keys(within.payload)).toStrictEqual(["a"])
      expect(yield* details(EventEnvelope.decodeBody(bodyWith(`{"a":${arrays(63)}}`)))).toStrictEqual({
        field: "payload.a",
        reason: "is nested deeper than 64 levels"
      })
      // Everywhere in the body, not only in the payload.
      const inMetadata = `{${head},"metadata":{"extra":${arrays(63)}},"payload":{}}`
      expect(yield* details(EventEnvelope.decodeBody(inMetadata))).toMatchObject({ field: "metadata.extra" })
      expect(yield* details(EventEnvelope.decodeBody(arrays(65)))).toMatchObject({ field: "<body>" })
    }))

  it.effect("the bound is set per call", () =>
    Effect.gen(function*() {
      const deep = bodyWith(`{"tree":${treeText(100)}}`)
      const decoded = yield* EventEnvelope.decode(TreeBuilt, deep, { maxDepth: 250 })
      let levels = 0
      for (let node: Tree | undefined = decoded.payload.tree; node !== undefined; node = node.children[0]) levels++
      expect(levels).toBe(100)
      expect(yield* details(EventEnvelope.decode(TreeBuilt, deep))).toMatchObject({ field: "payload.tree" })
      const shallow = bodyWith(`{"tree":${treeText(3)}}`)
      expect(yield* details(EventEnvelope.decode(TreeBuilt, shallow, { maxDepth: 6 }))).toStrictEqual({
        field: "payload.tree",
        reason: "is nested deeper than 6 levels"
      })
      expect((yield* EventEnvelope.decode(TreeBuilt, shallow, { maxDepth: 8 })).payload.tree.children).toHaveLength(1)
    }))
})

describe("EventEnvelope: integers beyond 2^53 are never rounded", () => {
  const Amounts = EventDefinition.event(
    "credit.amounts_posted",
    Schema.Struct({
      exact: Schema.BigInt,
      decimal: Schema.BigDecimal,
      digits: Schema.String,
      any: PayloadSchemas.JsonInteger,
      small: PayloadSchemas.JsonInteger
    })
  )
  // As Python's json.dumps writes ints, however large.
  const python = (payload: string) =>
    `{"event_id": "e2", "subject": "evt.credit.amounts_posted", "timestamp": "2026-11-21T14:03:27+00:00", ` +
    `"metadata": {"source_service": "ledger-service", "version": "1.0.0"}, "payload": ${payload}}`

  it.effect("a field of Schema.BigInt, a decimal string or JsonInteger receives the exact digits", () =>
    Effect.gen(function*() {
      const body = python(
        `{"exact": 12345678901234567890, "decimal": -98765432109876543210, "digits": 18446744073709551617, ` +
          `"any": 9007199254740993, "small": 42}`
      )
      const decoded = yield* EventEnvelope.decode(Amounts, body)
      expect(decoded.payload.exact).toBe(12345678901234567890n)
      expect(BigDecimal.format(decoded.payload.decimal)).toBe("-98765432109876543210")
      expect(decoded.payload.digits).toBe("18446744073709551617")
      expect(decoded.payload.any).toBe(9007199254740993n)
      expect(decoded.payload.small).toBe(42n)
      // The envelope alone keeps them as their digits.
      const envelope = yield* EventEnvelope.decodeBody(body)
      expect(envelope.payload.exact).toBe("12345678901234567890")
      expect(envelope.payload.small).toBe(42)
    }))

  it.effect("a field of Schema.Number or Schema.Int fails naming it instead of receiving a rounded number", () =>
    Effect.gen(function*() {
      const Counted = EventDefinition.event("credit.counted", Schema.Struct({ n: Schema.Number, i: Schema.Int }))
      const body = python(`{"n": 1, "i": 12345678901234567890}`).replace("amounts_posted", "counted")
      const refused = yield* details(EventEnvelope.decode(Counted, body))
      expect(refused.field).toBe("payload.i")
      // As pydantic says it, without the value.
      expect(refused.reason).toBe("Input should be a valid integer, unable to parse string as an integer")
      const both = python(`{"n": -12345678901234567890, "i": 2}`).replace("amounts_posted", "counted")
      expect(yield* details(EventEnvelope.decode(Counted, both))).toMatchObject({ field: "payload.n" })
      // Below 2^53 (and 2^53 itself, which a double holds exactly) nothing changes.
      const safe = python(`{"n": 9007199254740992, "i": -9007199254740991}`).replace("amounts_posted", "counted")
      expect((yield* EventEnvelope.decode(Counted, safe)).payload).toStrictEqual({
        n: 9007199254740992,
        i: -9007199254740991
      })
    }))

  it.effect("JsonInteger reads an integral number or digits, and refuses anything else", () =>
    Effect.gen(function*() {
      const decodeAny = Schema.decodeUnknownEither(PayloadSchemas.JsonInteger)
      expect(decodeAny(-7)).toStrictEqual(Either.right(-7n))
      expect(decodeAny("-123456789012345678901234567890")).toStrictEqual(
        Either.right(-123456789012345678901234567890n)
      )
      expect(decodeAny(2 ** 60)).toStrictEqual(Either.right(2n ** 60n))
      for (const bad of [1.5, Number.NaN, Number.POSITIVE_INFINITY, "1e3", "1.0", "01", "12a", "", " 1", null, true]) {
        expect(Either.isLeft(decodeAny(bad))).toBe(true)
      }
      const Posted = EventDefinition.event("credit.posted", Schema.Struct({ entry: PayloadSchemas.JsonInteger }))
      const body = python(`{"entry": 1.5}`).replace("amounts_posted", "posted")
      expect(yield* details(EventEnvelope.decode(Posted, body))).toStrictEqual({
        field: "payload.entry",
        reason: "must be an integer: a JSON number without a fraction, of any size"
      })
    }))

  it.effect("a JsonInteger beyond 2^53 is published as a JSON number, which Python reads as an int", () =>
    Effect.gen(function*() {
      const envelope = yield* EventEnvelope.make(Amounts, {
        exact: 12345678901234567890n,
        decimal: BigDecimal.unsafeFromString("0.1"),
        digits: "7",
        any: -(2n ** 64n) - 1n,
        small: 5n
      }, { sourceService: "ledger-service" })
      const body = yield* EventEnvelope.encodeBody(envelope)
      expect(body).toContain("\"any\":-18446744073709551617,")
      expect(body).toContain("\"small\":5}")
      // Schema.BigInt is a string on the wire, by its own definition.
      expect(body).toContain("\"exact\":\"12345678901234567890\"")
      expect(EventEnvelope.stringify(envelope)).toBe(body)
      const read = spawnSync("python3", [
        "-c",
        "import json, sys; p = json.load(sys.stdin)['payload']; print(type(p['any']).__name__, p['any'], type(p['small']).__name__)"
      ], { input: body, encoding: "utf8" })
      expect(read.stdout.trim()).toBe("int -18446744073709551617 int")
      expect((yield* EventEnvelope.decode(Amounts, body)).payload.any).toBe(-(2n ** 64n) - 1n)
    }))

  it("any integer a JsonInteger field publishes decodes back to itself", () => {
    const Posted = EventDefinition.event("credit.posted", Schema.Struct({ entry: PayloadSchemas.JsonInteger }))
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 128n), max: 2n ** 128n }), (entry) => {
        const body = Effect.runSync(
          Effect.flatMap(
            EventEnvelope.make(Posted, { entry }, { sourceService: "ledger-service" }),
            EventEnvelope.encodeBody
          )
        )
        expect(body).toContain(`"entry":${entry}}`)
        expect(Effect.runSync(EventEnvelope.decode(Posted, body)).payload.entry).toBe(entry)
      }),
      { numRuns: 300 }
    )
  })
})

describe("EventEnvelope: duplicate keys are refused", () => {
  it.effect("in the envelope, its metadata and the payload's top level, naming the key", () =>
    Effect.gen(function*() {
      const twice = `{"event_id":"a",${head},"payload":{}}`
      expect(yield* details(EventEnvelope.decodeBody(twice))).toStrictEqual({
        field: "event_id",
        reason: "is a duplicate key"
      })
      const error = yield* Effect.flip(EventEnvelope.decodeBody(twice))
      expect(error.message).toBe("Invalid event body: event_id is a duplicate key")
      const metadata = `{${head},"metadata":{"version":"1.0.0","source_service":"a","version":"2.0.0"},"payload":{}}`
      expect(yield* details(EventEnvelope.decodeBody(metadata))).toMatchObject({ field: "metadata.version" })
      const payload = `{${head},"payload":{"tree":{"children":[]},"tree":{"children":[]}}}`
      expect(yield* details(EventEnvelope.decode(TreeBuilt, payload))).toMatchObject({ field: "payload.tree" })
      // An escaped spelling of the same key is the same key.
      const escaped = `{${head},"payload":{},"p\\u0061yload":{}}`
      expect(yield* details(EventEnvelope.decodeBody(escaped))).toMatchObject({ field: "payload" })
    }))

  it.effect("deeper in the payload, its own schema decides (JSON.parse keeps the last)", () =>
    Effect.gen(function*() {
      const body = `{${head},"payload":{"tree":{"children":[],"children":[{"children":[]}]}}}`
      expect((yield* EventEnvelope.decode(TreeBuilt, body)).payload.tree.children).toHaveLength(1)
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// properties
// ---------------------------------------------------------------------------------------------------------------

type Entries = ReadonlyArray<readonly [string, string]>
const objectText = (entries: Entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`

const key = fc.string({ maxLength: 8 })
// Without integer digits a double cannot hold (read back as strings, by design: see above).
const shallowJson = fc.jsonValue({ maxDepth: 2 }).map((u) => JSON.stringify(u)).filter((text) => !/\d{16}/.test(text))
const known = ["event_id", "subject", "timestamp", "payload", "metadata"]

/** The entries of a valid envelope's top level, its metadata and its payload, each with unique keys. */
const envelopeParts = fc.record({
  extra: fc.uniqueArray(fc.tuple(key.filter((k) => !known.includes(k)), shallowJson), {
    maxLength: 3,
    selector: ([k]) => k
  }),
  metadata: fc.uniqueArray(fc.tuple(key, shallowJson), { maxLength: 4, selector: ([k]) => k }).map((entries) =>
    entries.filter(([k]) =>
      !["source_service", "version", "schema_version", "triggered_by", "original_source"].includes(k)
    )
  ),
  payload: fc.uniqueArray(fc.tuple(key, shallowJson), { maxLength: 5, selector: ([k]) => k })
})

type Parts = typeof envelopeParts extends fc.Arbitrary<infer P> ? P : never
type Level = "top" | "metadata" | "payload"

const envelopeText = (parts: Parts, edit?: { readonly level: Level; readonly entries: Entries }) => {
  const at = (level: Level, entries: Entries) => (edit?.level === level ? edit.entries : entries)
  return objectText([
    ["event_id", "\"e1\""],
    ["subject", "\"evt.catalog.tree_built\""],
    ["timestamp", "\"2026-11-21T14:03:27+00:00\""],
    ...at("top", [...parts.extra, ["metadata", objectText(at("metadata", parts.metadata))]]),
    ["payload", objectText(at("payload", parts.payload))]
  ] as Entries)
}

const topEntries = (parts: Parts): Entries => [...parts.extra, ["metadata", objectText(parts.metadata)]]
const entriesAt = (parts: Parts, level: Level): Entries =>
  level === "top" ? topEntries(parts) : level === "metadata" ? parts.metadata : parts.payload
const fieldOf = (level: Level, k: string) => (level === "top" ? k : `${level}.${k}`)

/** Nested objects and arrays, `levels` deep. */
const nested = fc.array(fc.boolean(), { minLength: 1, maxLength: 200 }).map((kinds) =>
  kinds.map((object) => (object ? "{\"k\":" : "[")).join("") + "0" +
  kinds.map((object) => (object ? "}" : "]")).reverse().join("")
)

const decodeNeverThrows = (body: string | Uint8Array) => {
  for (
    const result of [
      EventEnvelope.decodeBody(body),
      EventEnvelope.decode(TreeBuilt, body),
      EventEnvelope.decode(TreeBuilt, body, { maxDepth: 5 })
    ]
  ) {
    const either = Effect.runSync(Effect.either(result as Effect.Effect<unknown, ValidationError>))
    if (Either.isLeft(either)) {
      expect(either.left).toBeInstanceOf(ValidationError)
      expect(typeof (either.left.details as { field?: unknown }).field).toBe("string")
    }
  }
}

describe("EventEnvelope: properties of decodeBody and decode", () => {
  it("the generated envelopes decode, and encode back to the value they decoded to", () => {
    fc.assert(
      fc.property(envelopeParts, (parts) => {
        const text = envelopeText(parts)
        const envelope = Effect.runSync(EventEnvelope.decodeBody(text))
        expect(envelope).toStrictEqual(JSON.parse(text))
        const again = Effect.runSync(Effect.flatMap(EventEnvelope.encodeBody(envelope), EventEnvelope.decodeBody))
        expect(again).toStrictEqual(envelope)
      }),
      { numRuns: 300 }
    )
  })

  it("never throws, whatever the text or bytes: a ValidationError or a value", () => {
    const valid = envelopeParts.map((parts) => envelopeText(parts))
    const mutated = fc.tuple(valid, fc.nat(), fc.nat({ max: 3 }), fc.string({ maxLength: 3 })).map((
      [text, at, cut, insert]
    ) => {
      const i = at % (text.length + 1)
      return text.slice(0, i) + insert + text.slice(i + cut)
    })
    // Deep and well formed (a recursive payload schema would follow it down), or cut short.
    const deep = fc.tuple(fc.integer({ min: 0, max: 5000 }), fc.constantFrom(treeText, arrays), fc.boolean())
      .map(([levels, nest, whole]) => {
        const text = bodyWith(`{"tree":${nest(levels)}}`)
        return whole ? text : text.slice(0, text.length / 2)
      })
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string({ unit: "binary" }),
          fc.json(),
          valid,
          mutated,
          deep,
          fc.uint8Array({ maxLength: 64 }),
          valid.map((text) => new TextEncoder().encode(text).map((b, i) => (i % 7 === 3 ? b ^ 0x80 : b)))
        ),
        decodeNeverThrows
      ),
      { numRuns: 1000 }
    )
  })

  it("nesting beyond the bound is refused wherever it is, naming the field and the depth", () => {
    fc.assert(
      fc.property(
        envelopeParts,
        fc.constantFrom<Level>("top", "metadata", "payload"),
        nested,
        fc.nat(),
        fc.string({ maxLength: 6 }),
        (parts, level, value, position, deepKey) => {
          fc.pre(level !== "top" || !known.includes(deepKey) || deepKey === "metadata")
          const entries = entriesAt(parts, level).filter(([k]) => k !== deepKey)
          const levels = value.split("").filter((c) => c === "[" || c === "{").length
          // The value's first level is 2 at the top, 3 in metadata or the payload.
          const valueDepth = level === "top" ? 2 : 3
          const maxDepth = Math.max(6, valueDepth + levels - 2 - (position % 4))
          const deepest = valueDepth + levels - 1
          const i = position % (entries.length + 1)
          const text = envelopeText(parts, {
            level,
            entries: [...entries.slice(0, i), [deepKey, value], ...entries.slice(i)]
          })
          const result = Effect.runSync(Effect.either(EventEnvelope.decode(TreeBuilt, text, { maxDepth })))
          if (deepest <= maxDepth) {
            // Within the bound the body is read (the payload may still not be a tree).
            if (Either.isLeft(result)) expect((result.left.details as { reason: string }).reason).not.toMatch(/nested/)
          } else {
            expect(Either.isLeft(result)).toBe(true)
            // The field names the keys of the first two levels on the way down.
            const field = level === "top" && value.startsWith("{") ? `${deepKey}.k` : fieldOf(level, deepKey)
            expect(Either.isLeft(result) && result.left.details).toStrictEqual({
              field,
              reason: `is nested deeper than ${maxDepth} levels`
            })
          }
        }
      ),
      { numRuns: 500 }
    )
  })

  it("a key repeated in the envelope, its metadata or the payload's top level is refused, naming it", () => {
    fc.assert(
      fc.property(
        envelopeParts,
        fc.constantFrom<Level>("top", "metadata", "payload"),
        fc.nat(),
        fc.nat(),
        shallowJson,
        (parts, level, pick, position, value) => {
          const entries = entriesAt(parts, level)
          // The envelope always has its required keys; metadata and payload may be empty.
          const candidates: Entries = level === "top"
            ? [...entries, ["event_id", "\"e1\""], ["payload", "{}"]]
            : entries
          fc.pre(candidates.length > 0)
          const [k] = candidates[pick % candidates.length]!
          const i = position % (entries.length + 1)
          const edited: Entries = [...entries.slice(0, i), [k, value], ...entries.slice(i)]
          const text = envelopeText(parts, { level, entries: edited })
          const result = Effect.runSync(Effect.either(EventEnvelope.decodeBody(text)))
          expect(Either.isLeft(result) && result.left.details).toStrictEqual({
            field: fieldOf(level, k),
            reason: "is a duplicate key"
          })
        }
      ),
      { numRuns: 500 }
    )
  })

  it("the version accessor reads only metadata.schema_version", () => {
    fc.assert(
      fc.property(envelopeParts, fc.option(fc.integer({ min: 1, max: 1_000_000 }), { nil: undefined }), (parts, v) => {
        const metadata: Entries = [
          ["version", "\"7.3.1\""],
          ...(v === undefined ? [] : [["schema_version", String(v)] as const])
        ]
        const envelope = Effect.runSync(
          EventEnvelope.decodeBody(envelopeText(parts, { level: "metadata", entries: metadata }))
        )
        expect(EventEnvelope.version(envelope)).toStrictEqual(Option.some(v ?? 1))
      })
    )
  })
})
