/**
 * Typed MQTT topics: patterns, matching, formatting, and the payload codecs.
 */
import { describe, expect, it } from "@effect/vitest"
import { Either, Option, Schema } from "effect"
import * as fc from "fast-check"
import * as Payload from "../src/Devices/internal/payload.js"
import * as TopicPattern from "../src/Devices/internal/topicPattern.js"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import { ValidationError } from "../src/Errors/CommonErrors.js"

const Reading = Schema.Struct({ kwh: Schema.Number })
const limits = { maxBytes: 1024, maxDepth: 4 }

describe("MqttTopic", () => {
  it("turns named parameters into single-level wildcards", () => {
    const topic = MqttTopic.make("devices/{device_id}/data", Reading)
    expect(topic.filter).toBe("devices/+/data")
    expect(topic.params).toEqual(["device_id"])
    expect(topic.qos).toBe(1)
    const all = MqttTopic.make("sites/{site}/+/{meter}/#", Reading)
    expect(all.filter).toBe("sites/+/+/+/#")
    expect(all.params).toEqual(["site", "meter"])
  })

  it("refuses a pattern that is not one, naming why, when it is defined", () => {
    for (
      const [pattern, reason] of [
        ["", "is empty"],
        ["a/#/b", "has `#` before its last level"],
        ["a/{x}/{x}", "names the parameter x twice"],
        ["a/b+c", "has the level \"b+c\""],
        ["a/{bad-name}", "has the level \"{bad-name}\""],
        ["$share/g/a", "is a shared subscription"]
      ]
    ) {
      const error = (() => {
        try {
          MqttTopic.make(pattern!, Reading)
          return undefined
        } catch (e) {
          return e
        }
      })()
      expect(error).toBeInstanceOf(ValidationError)
      expect((error as ValidationError).message).toContain(reason)
    }
  })

  it("matches topics as MQTT does", () => {
    const data = MqttTopic.make("devices/{device_id}/data", Reading)
    expect(MqttTopic.match(data, "devices/m-1/data")).toEqual(Option.some({ device_id: "m-1" }))
    expect(MqttTopic.match(data, "devices/m-1/data/x")).toEqual(Option.none())
    expect(MqttTopic.match(data, "devices/m-1")).toEqual(Option.none())
    const tree = MqttTopic.make("devices/{device_id}/#", Reading)
    // `#` matches its parent level too.
    expect(MqttTopic.match(tree, "devices/m-1")).toEqual(Option.some({ device_id: "m-1" }))
    expect(MqttTopic.match(tree, "devices/m-1/a/b")).toEqual(Option.some({ device_id: "m-1" }))
    // A wildcard first level does not match the broker's own `$` topics.
    expect(MqttTopic.match(MqttTopic.make("+/uptime", Reading), "$SYS/uptime")).toEqual(Option.none())
    expect(MqttTopic.match(MqttTopic.make("#", Reading), "$SYS/uptime")).toEqual(Option.none())
  })

  it("formats a topic from its parameters, refusing values that would name another topic", () => {
    const data = MqttTopic.make("devices/{device_id}/data", Reading)
    expect(MqttTopic.format(data, { device_id: "m-1" })).toEqual(Either.right("devices/m-1/data"))
    for (const bad of ["", "a/b", "a+", "#", "a\u0000"]) {
      const result = MqttTopic.format(data, { device_id: bad })
      expect(Either.isLeft(result) && result.left._tag).toBe("ValidationError")
    }
    const wild = MqttTopic.make("devices/+/data", Reading)
    expect(Either.isLeft(MqttTopic.format(wild, {}))).toBe(true)
  })

  it("property: a formatted topic matches its pattern with the same parameters", () => {
    const topic = MqttTopic.make("s/{site}/m/{meter}/reading", Reading)
    const level = fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !/[/+#\u0000]/.test(s))
    fc.assert(
      fc.property(level, level, (site, meter) => {
        const formatted = MqttTopic.format(topic, { site, meter })
        expect(Either.isRight(formatted)).toBe(true)
        const name = Either.getOrThrow(formatted)
        expect(MqttTopic.match(topic, name)).toEqual(Option.some({ site, meter }))
      }),
      { numRuns: 300 }
    )
  })

  it("property: a filter covers another when it matches every topic the other matches", () => {
    // Topics of up to 5 levels over a few texts: `c` and the empty level stand for what a literal does not match.
    const texts = ["a", "b", "$s", "c", ""]
    let topics: Array<string> = texts
    for (let depth = 1, last = texts; depth < 5; depth++) {
      last = last.flatMap((topic) => texts.map((text) => `${topic}/${text}`))
      topics = [...topics, ...last]
    }
    const filter = fc.tuple(fc.array(fc.constantFrom("a", "b", "$s", "+"), { maxLength: 3 }), fc.boolean())
      .filter(([levels, multi]) => levels.length > 0 || multi)
      .map(([levels, multi]) => {
        const parsed = TopicPattern.parse([...levels, ...(multi ? ["#"] : [])].join("/"))
        if (typeof parsed === "string") throw new Error(parsed)
        return parsed
      })
    fc.assert(
      fc.property(filter, filter, (outer, inner) => {
        const matched = topics.filter((topic) => TopicPattern.match(inner, topic) !== undefined)
        expect(TopicPattern.covers(outer, inner)).toBe(
          matched.every((topic) => TopicPattern.match(outer, topic) !== undefined)
        )
      }),
      { numRuns: 300 }
    )
    const parse = (pattern: string) => TopicPattern.parse(pattern) as TopicPattern.Pattern
    expect(TopicPattern.covers(parse("a/#"), parse("a"))).toBe(true)
    expect(TopicPattern.covers(parse("#"), parse("$s/a"))).toBe(false)
    expect(TopicPattern.covers(parse("a/+/c"), parse("a/{id}/c"))).toBe(true)
  })
})

describe("payloads", () => {
  const bytes = (text: string) => Buffer.from(text, "utf8")

  it("decodes JSON into the schema, and says why a payload does not decode", () => {
    expect(Payload.decode(Reading, "json", bytes("{\"kwh\":1.5}"), limits)).toEqual(Either.right({ kwh: 1.5 }))
    const reasons = [
      bytes("{\"kwh\":\"x\"}"),
      bytes("nope"),
      bytes("[[[[[1]]]]]"),
      bytes("{\"kwh\":1,\"kwh\":2}"),
      Buffer.from([0xc3, 0x28]),
      bytes(JSON.stringify({ kwh: 1, pad: "x".repeat(2000) }))
    ].map((payload) => Either.getLeft(Payload.decode(Reading, "json", payload, limits)).pipe(Option.getOrThrow))
    expect(reasons[0]).toBe("kwh: Input should be a valid number, unable to parse string as a number")
    expect(reasons[1]).toContain("not valid JSON")
    expect(reasons[2]).toContain("nested deeper than 4 levels")
    expect(reasons[3]).toContain("duplicate key")
    expect(reasons[4]).toBe("the payload is not UTF-8 text")
    expect(reasons[5]).toContain("more than the limit of 1024")
  })

  it("keeps the digits of integers a number cannot hold, for a schema that wants them", () => {
    const Big = Schema.Struct({ counter: Schema.BigInt })
    expect(Payload.decode(Big, "json", bytes("{\"counter\":12345678901234567890}"), limits)).toEqual(
      Either.right({ counter: 12345678901234567890n })
    )
  })

  it("carries text payloads as text", () => {
    const Level = Schema.Literal("online", "offline")
    expect(Payload.decode(Level, "text", bytes("online"), limits)).toEqual(Either.right("online"))
    expect(Payload.encode(Level, "text", "offline")).toEqual(Either.right("offline"))
    expect(Payload.encode(Reading, "json", { kwh: 2 })).toEqual(Either.right("{\"kwh\":2}"))
    expect(Either.isLeft(Payload.encode(Reading, "json", { kwh: "x" } as never))).toBe(true)
  })

  it("property: whatever the bytes, decoding never throws", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (raw) => {
        const result = Payload.decode(Reading, "json", raw, limits)
        expect(Either.isEither(result)).toBe(true)
      }),
      { numRuns: 500 }
    )
  })
})
