import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { parse, stringify } from "../src/internal/json.js"
import * as ProtoKeys from "../src/internal/protoKeys.js"

const deep = (levels: number, open: string, close: string, inner = "1") =>
  open.repeat(levels) + inner + close.repeat(levels)

describe("guarded JSON.parse", () => {
  it("gives what JSON.parse gives for any JSON text within the limits and without long integers", () => {
    fc.assert(
      fc.property(fc.json({ depthSize: "small" }).filter((text) => !/\d{16}/.test(text)), (text) => {
        const value: unknown = JSON.parse(text)
        const result = parse(text, { maxDepth: 1000 })
        expect(result).toStrictEqual({ _tag: "Parsed", value })
      }),
      { numRuns: 500 }
    )
  })

  it("refuses what JSON.parse refuses, with the reason JSON.parse gives less the text it quotes", () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        let expected: string | undefined
        try {
          JSON.parse(text)
        } catch (e) {
          expected = (e as Error).message
        }
        const result = parse(text, { maxDepth: 1000 })
        if (expected === undefined) {
          expect(result._tag).toBe("Parsed")
          return
        }
        expect(result).toMatchObject({ _tag: "Refused", field: "<body>" })
        const reason = (result as { readonly reason: string }).reason
        // V8 quotes the text around an unexpected token: that part is left out, the rest is its message.
        const quoted = /^(Unexpected token '.+?'), .* is not valid JSON$/s.exec(expected)
        expect(reason).toBe(`not valid JSON: ${quoted === null ? expected : quoted[1]}`)
      }),
      { numRuns: 1000 }
    )
  })

  it("quotes no part of the text it refuses", () => {
    expect(parse("nope{", { maxDepth: 64 })).toStrictEqual({
      _tag: "Refused",
      field: "<body>",
      reason: "not valid JSON: Unexpected token 'o'"
    })
    for (const text of [`{"password": "hunter2" x}`, `{"token": "s3cr3t-v4lue", "b": tru}`, `x{"api_key":"k3y"}`]) {
      const result = parse(text, { maxDepth: 64 })
      expect(result._tag).toBe("Refused")
      expect(JSON.stringify(result)).not.toMatch(/hunter2|s3cr3t|k3y|tru\}/)
    }
  })

  it("refuses nesting beyond the bound, naming the top-level keys it went through", () => {
    expect(parse(deep(64, "[", "]"), { maxDepth: 64 })._tag).toBe("Parsed")
    expect(parse(deep(65, "[", "]"), { maxDepth: 64 })).toStrictEqual({
      _tag: "Refused",
      field: "<body>",
      reason: "is nested deeper than 64 levels"
    })
    const body = `{"event_id":"e","payload":{"data":${deep(5000, "[", "]")}}}`
    expect(parse(body, { maxDepth: 64 })).toStrictEqual({
      _tag: "Refused",
      field: "payload.data",
      reason: "is nested deeper than 64 levels"
    })
    expect(parse(`{"a":${deep(100, "{\"b\":", "}")}}`, { maxDepth: 64 })).toMatchObject({ field: "a.b" })
  })

  it("keeps the digits of integers beyond 2^53 as strings, and leaves every other number a number", () => {
    const text = `{"big":12345678901234567890,"neg":-9007199254740993,"max":9007199254740992,"f":1.5e300,` +
      `"list":[18446744073709551615,1],"s":"12345678901234567890"}`
    expect(parse(text, { maxDepth: 64 })).toStrictEqual({
      _tag: "Parsed",
      value: {
        big: "12345678901234567890",
        neg: "-9007199254740993",
        max: 9007199254740992,
        f: 1.5e300,
        list: ["18446744073709551615", 1],
        s: "12345678901234567890"
      }
    })
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }), (n) => {
        const result = parse(`{"n":${n}}`, { maxDepth: 4 })
        const exact = BigInt(Number(n)) === n
        expect(result).toStrictEqual({ _tag: "Parsed", value: { n: exact ? Number(n) : String(n) } })
      })
    )
  })

  it("refuses a number no double holds (JSON.parse reads it as Infinity), with its field", () => {
    for (const n of ["1e400", "-1E+309", `${"9".repeat(309)}.0`, `-${"1".repeat(400)}e0`]) {
      expect(parse(`{"a":{"b":[${n}]}}`, { maxDepth: 8 })).toStrictEqual({
        _tag: "Refused",
        field: "a.b",
        reason: "is a number out of range (no double holds it)"
      })
      expect(parse(n, { maxDepth: 8 })).toMatchObject({ _tag: "Refused", field: "<body>" })
    }
    // What rounds to a double stays a number, however small or long: underflow is rounding.
    expect(parse(`[1e-400,1.7976931348623157e308,${"1".repeat(300)}.5,-0e999]`, { maxDepth: 8 })).toStrictEqual({
      _tag: "Parsed",
      value: [0, 1.7976931348623157e308, Number(`${"1".repeat(300)}.5`), -0]
    })
  })

  it("keeps the digits of an integer past a double's range (310 digits and more), never throwing", () => {
    for (const n of [`1${"0".repeat(400)}`, `-${"9".repeat(310)}`, `1${"0".repeat(309)}`]) {
      expect(parse(`{"a":[${n}]}`, { maxDepth: 8 })).toStrictEqual({ _tag: "Parsed", value: { a: [n] } })
      expect(parse(n, { maxDepth: 8 })).toStrictEqual({ _tag: "Parsed", value: n })
    }
  })

  it("does not make invalid JSON valid by quoting a long integer", () => {
    expect(parse("{12345678901234567890: 1}", { maxDepth: 4 })._tag).toBe("Refused")
  })

  it("refuses a repeated key in the objects at the checked depths, however the key is escaped", () => {
    const options = { maxDepth: 64, uniqueKeysDepth: 2 }
    expect(parse(`{"event_id":"a","event_id":"b"}`, options)).toStrictEqual({
      _tag: "Refused",
      field: "event_id",
      reason: "is a duplicate key"
    })
    expect(parse(`{"event_id":"a","event\\u005fid":"b"}`, options)).toMatchObject({ field: "event_id" })
    expect(parse(`{"metadata":{"version":"1","version":"2"}}`, options)).toMatchObject({
      field: "metadata.version"
    })
    // Same key in sibling objects, and repeats below the checked depth, are not duplicates.
    expect(parse(`{"a":{"k":1},"b":{"k":2}}`, options)._tag).toBe("Parsed")
    expect(parse(`{"a":{"b":{"k":1,"k":2}}}`, options)._tag).toBe("Parsed")
    expect(parse(`[{"k":1},{"k":2}]`, options)._tag).toBe("Parsed")
    expect(parse(`{"k":1,"k":2}`, { maxDepth: 64 })._tag).toBe("Parsed")
  })

  it("refuses a repeated key at the checked depths, the first in the text, with its path; parses the rest", () => {
    type Node = number | { readonly array: ReadonlyArray<Node> } | { readonly entries: ReadonlyArray<[string, Node]> }
    // Keys from a small set, some written escaped: repeats are frequent, at every depth, in objects and arrays.
    const key = fc.constantFrom("a", "b", "c", "\\u0061", "__proto__")
    const { node } = fc.letrec<{ node: Node }>((tie) => ({
      node: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        fc.integer(),
        fc.record({ array: fc.array(tie("node"), { maxLength: 3 }) }),
        fc.record({ entries: fc.array(fc.tuple(key, tie("node")), { maxLength: 4 }) })
      )
    }))
    const textOf = (n: Node): string =>
      typeof n === "number"
        ? String(n)
        : "array" in n
        ? `[${n.array.map(textOf).join(",")}]`
        : `{${n.entries.map(([k, v]) => `"${k}":${textOf(v)}`).join(",")}}`
    const unescaped = (k: string) => (k === "\\u0061" ? "a" : k)
    // The first repeated key in the text at depth 1 or 2, as the path of the keys leading to it.
    const firstRepeat = (n: Node, depth: number, path: ReadonlyArray<string>): string | undefined => {
      if (typeof n === "number") return undefined
      if ("array" in n) {
        for (const item of n.array) {
          const found = firstRepeat(item, depth + 1, path)
          if (found !== undefined) return found
        }
        return undefined
      }
      const seen = new Set<string>()
      for (const [k, v] of n.entries) {
        const name = unescaped(k)
        if (depth <= 2 && seen.has(name)) return [...path, name].slice(0, 2).join(".")
        seen.add(name)
        const found = firstRepeat(v, depth + 1, depth <= 2 ? [...path, name] : path)
        if (found !== undefined) return found
      }
      return undefined
    }
    fc.assert(
      fc.property(node, (n) => {
        const text = textOf(n)
        const repeat = firstRepeat(n, 1, [])
        const result = parse(text, { maxDepth: 64, uniqueKeysDepth: 2 })
        if (repeat === undefined) expect(result).toStrictEqual({ _tag: "Parsed", value: JSON.parse(text) })
        else expect(result).toStrictEqual({ _tag: "Refused", field: repeat, reason: "is a duplicate key" })
      }),
      { numRuns: 1000 }
    )
  })

  it("never throws, whatever the text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (text) => {
        const result = parse(text, { maxDepth: 8, uniqueKeysDepth: 2 })
        expect(["Parsed", "Refused"]).toContain(result._tag)
      }),
      { numRuns: 2000 }
    )
  })
})

describe("JSON.stringify that writes bigints", () => {
  it("writes a bigint as the JSON number of its digits, anywhere in the value", () => {
    const value = { a: 12345678901234567890n, b: [-(2n ** 70n), 0n, 1], c: { d: "x", e: 5n }, f: undefined }
    expect(stringify(value)).toBe(
      "{\"a\":12345678901234567890,\"b\":[-1180591620717411303424,0,1],\"c\":{\"d\":\"x\",\"e\":5}}"
    )
    expect(stringify(7n)).toBe("7")
    // What parse keeps as digits, stringify writes back as the same digits.
    expect(parse(stringify({ n: 2n ** 64n + 1n }), { maxDepth: 2 })).toStrictEqual({
      _tag: "Parsed",
      value: { n: "18446744073709551617" }
    })
  })

  it("is JSON.stringify for any value without a bigint, strings that look like its marker included", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(stringify(value)).toBe(JSON.stringify(value))
        expect(stringify([value, 1n])).toBe(`[${JSON.stringify(value)},1]`)
      }),
      { numRuns: 500 }
    )
    const lookalike = { s: "\u0000bigint:00000000-0000-0000-0000-000000000000:12", n: 1n }
    expect(JSON.parse(stringify(lookalike))).toStrictEqual({ s: lookalike.s, n: 1 })
  })

  it("still throws on a cycle, as JSON.stringify does", () => {
    const cyclic: { self?: unknown; n: bigint } = { n: 1n }
    cyclic.self = cyclic
    expect(() => stringify(cyclic)).toThrow(TypeError)
  })
})

describe("\"__proto__\" keys of parsed JSON", () => {
  it("are found at any depth, in arrays too, with their path; text without one is told apart without parsing", () => {
    const found = (text: string) => ProtoKeys.protoKeyPath(JSON.parse(text))
    expect(found("{\"a\":{\"b\":[1,{\"__proto__\":{\"x\":1}}]}}")).toEqual(["a", "b", "1", "__proto__"])
    expect(found("{\"__proto__\":null}")).toEqual(["__proto__"])
    expect(found("{\"a\":{\"\\u005f_proto__\":1}}")).toEqual(["a", "__proto__"])
    expect(found("{\"a\":{\"proto\":1},\"b\":[\"__proto__\"]}")).toBeUndefined()
    expect(ProtoKeys.mayHoldProtoKey("{\"a\":{\"proto\":1}}")).toBe(false)
    expect(ProtoKeys.mayHoldProtoKey("{\"\\u005F_proto__\":1}")).toBe(true)
    // Any one letter escaped, or all of them, in either case of the hex digits: each is the key JSON.parse makes.
    const escape = (char: string, upper: boolean) => {
      const hex = char.charCodeAt(0).toString(16).padStart(4, "0")
      return `\\u${upper ? hex.toUpperCase() : hex}`
    }
    for (const upper of [false, true]) {
      const letters = [..."__proto__"]
      const spellings = [
        ...letters.map((_, at) => letters.map((char, i) => (i === at ? escape(char, upper) : char)).join("")),
        letters.map((char) => escape(char, upper)).join("")
      ]
      for (const spelled of spellings) {
        const text = `{"a":[{"${spelled}":{"x":1}}]}`
        expect({ spelled, may: ProtoKeys.mayHoldProtoKey(text) }).toEqual({ spelled, may: true })
        expect(found(text)).toEqual(["a", "0", "__proto__"])
      }
    }
    // A value read from a store has no depth bound: 200 000 levels, searched without recursion.
    const depth = 200_000
    const deep = JSON.parse(`${"{\"a\":".repeat(depth)}{"__proto__":1}${"}".repeat(depth)}`)
    const path = ProtoKeys.protoKeyPath(deep)
    expect(path).toHaveLength(depth + 1)
    expect(path?.[depth]).toBe("__proto__")
  })
})
