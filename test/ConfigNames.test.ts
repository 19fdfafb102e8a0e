import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll } from "vitest"
import * as GlamConfig from "../src/Config/index.js"
import { envNameFor, envPathOf, envPrefixFor } from "../src/Config/internal/names.js"
import type { JsonObject, JsonValue } from "../src/Config/internal/tree.js"
import { deepMerge, isObject, leafPaths, lookup } from "../src/Config/internal/tree.js"

const emptyRoot = fs.mkdtempSync(path.join(os.tmpdir(), "glam-config-names-"))
afterAll(() => fs.rmSync(emptyRoot, { recursive: true, force: true }))

const segment = fc.stringMatching(/^[a-z0-9](?:[a-z0-9_]{0,6}[a-z0-9])?$/).filter((s) => !s.includes("__"))
const configPath = fc.array(segment, { minLength: 1, maxLength: 4 })
const prefix = fc.stringMatching(/^[A-Z][A-Z0-9]{0,5}(?:_[A-Z0-9]{1,4}){0,2}$/)

describe("environment names", () => {
  it("envNameFor and envPathOf are inverse for every settable path", () => {
    fc.assert(
      fc.property(prefix, configPath, (p, segments) => {
        const name = envNameFor(p, segments)
        expect(name).toBeDefined()
        expect(envPathOf(name!, p)).toStrictEqual(segments)
      })
    )
  })

  it("a variable without the prefix never sets anything", () => {
    fc.assert(
      fc.property(prefix, fc.string({ minLength: 1, maxLength: 20 }), (p, name) => {
        fc.pre(!name.startsWith(`${p}_`))
        expect(envPathOf(name, p)).toBeUndefined()
      })
    )
  })

  it("derives the prefix from the service name", () => {
    expect(envPrefixFor("catalog-service")).toBe("CATALOG")
    expect(envPrefixFor("ai-processing-service")).toBe("AI_PROCESSING")
    expect(envPrefixFor("billing")).toBe("BILLING")
    expect(envPrefixFor("service")).toBe("SERVICE")
  })
})

/** Python's loop in `merged_config`, transcribed with mutable dicts (a scalar in the way becomes a mapping). */
const pythonModel = (env: ReadonlyArray<readonly [string, string]>, p: string): Record<string, unknown> => {
  const cfg: Record<string, unknown> = {}
  for (const [key, val] of env) {
    if (!key.startsWith(`${p}_`)) continue
    const yamlKey = key.slice(p.length + 1).toLowerCase()
    if (yamlKey.includes("__")) {
      const parts = yamlKey.split("__")
      let current = cfg
      for (const part of parts.slice(0, -1)) {
        const next = current[part]
        if (typeof next !== "object" || next === null) current[part] = {}
        current = current[part] as Record<string, unknown>
      }
      current[parts[parts.length - 1]!] = val
    } else {
      cfg[yamlKey] = val
    }
  }
  return cfg
}

describe("environment overrides", () => {
  it.effect("match Python's merged_config applied in the documented order (shallow first, then by name)", () =>
    Effect.gen(function*() {
      const small = fc.array(fc.constantFrom("a", "b", "c_d"), { minLength: 1, maxLength: 3 })
      const variables = fc.uniqueArray(
        fc.tuple(small, fc.string({ maxLength: 5 })).map(([segments, value]) =>
          [`APP_${segments.map((s) => s.toUpperCase()).join("__")}`, value] as const
        ),
        { selector: ([name]) => name, maxLength: 8 }
      )
      const samples = fc.sample(variables, 200)
      for (const vars of samples) {
        const loaded = yield* GlamConfig.load({
          root: emptyRoot,
          envPrefix: "APP",
          env: { ...Object.fromEntries(vars), OTHER_A: "x" },
          dotenv: false
        })
        const ordered = [...vars].sort(([a], [b]) => a.split("__").length - b.split("__").length || (a < b ? -1 : 1))
        expect(loaded.tree).toStrictEqual(pythonModel(ordered, "APP"))
      }
    }))
})

const json: fc.Arbitrary<JsonValue> = fc.letrec<{ value: JsonValue; object: JsonObject }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constantFrom<JsonValue>(1, "s", true, null),
    fc.array(fc.integer(), { maxLength: 2 }),
    tie("object")
  ),
  object: fc.dictionary(fc.constantFrom("a", "b", "c"), tie("value"), { maxKeys: 3, noNullPrototype: true })
})).value

const object = json.filter(isObject)

describe("deepMerge", () => {
  it("the override wins at each of its non-mapping leaves", () => {
    fc.assert(
      fc.property(object, object, (base, override) => {
        const merged = deepMerge(base, override)
        for (const leaf of leafPaths(override)) {
          const value = lookup(override, leaf)
          if (isObject(value)) continue
          expect(lookup(merged, leaf)).toStrictEqual(value)
        }
      })
    )
  })

  it("a base leaf survives unless the override sets it or replaces a mapping above it", () => {
    fc.assert(
      fc.property(object, object, (base, override) => {
        const merged = deepMerge(base, override)
        for (const leaf of leafPaths(base)) {
          const shadowed = leaf.some((_, i) => {
            const above = lookup(override, leaf.slice(0, i + 1))
            return above !== undefined && (!isObject(above) || i === leaf.length - 1)
          })
          if (!shadowed) expect(lookup(merged, leaf)).toStrictEqual(lookup(base, leaf))
        }
      })
    )
  })

  it("{} is an identity on both sides", () => {
    fc.assert(
      fc.property(object, (tree) => {
        expect(deepMerge(tree, {})).toStrictEqual(tree)
        expect(deepMerge({}, tree)).toStrictEqual(tree)
      })
    )
  })
})
