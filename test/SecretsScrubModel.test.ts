/**
 * The copy `hideCredentials` makes of a failure's value, against a model of it that searches each part of the value
 * before it copies it (a search per level of nesting): over generated values (objects, arrays, errors, `URL`s and
 * other objects with a `toJSON`, `Date`s, getters, values shared between parts, cycles, nesting past the depth the
 * copy searches), both hide the same strings, copy the same parts (of the same prototypes, with the same properties)
 * and keep the same parts as they are.
 */
import * as Cause from "effect/Cause"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fc from "fast-check"
import { describe, expect, it } from "vitest"
import { hidden, scrubText } from "../src/internal/credentials.js"
import { hideCredentials, jsonOf, noJson, ownValues } from "../src/internal/requestCredentials.js"

// The model: the searches and the copy before the records (the helpers they share with the code are imported) ---

const maxDepth = 16

const includesOne = (text: string, credentials: ReadonlyArray<string>): boolean =>
  credentials.some((secret) => text.includes(secret))

const modelHolds = (
  value: unknown,
  credentials: ReadonlyArray<string>,
  depth: number,
  seen: WeakSet<object> | undefined
): boolean => {
  if (typeof value === "string") return includesOne(value, credentials)
  if (typeof value !== "object" || value === null || Redacted.isRedacted(value) || seen?.has(value)) return false
  if (depth >= maxDepth) return true
  if (Array.isArray(value) && value.every((element) => typeof element !== "object" || element === null)) {
    return value.some((element) => typeof element === "string" && includesOne(element, credentials))
  }
  const visited = seen ?? new WeakSet()
  visited.add(value)
  if (modelOwnHolds(value, credentials, depth, visited)) return true
  const json = jsonOf(value)
  return json !== noJson && modelHolds(json, credentials, depth + 1, visited)
}

const modelOwnHolds = (
  value: object,
  credentials: ReadonlyArray<string>,
  depth: number,
  visited: WeakSet<object>
): boolean => {
  for (const own of ownValues(value)) if (modelHolds(own.value, credentials, depth + 1, visited)) return true
  return false
}

const modelScrub = (
  value: unknown,
  credentials: ReadonlyArray<string>,
  depth: number,
  copies: WeakMap<object, unknown>
): unknown => {
  if (typeof value === "string") return scrubText(value, credentials)
  if (typeof value !== "object" || value === null || Redacted.isRedacted(value)) return value
  const known = copies.get(value)
  if (known !== undefined) return known
  if (depth >= maxDepth) return hidden
  const next = (inner: unknown) =>
    modelHolds(inner, credentials, depth + 1, undefined) ? modelScrub(inner, credentials, depth + 1, copies) : inner
  if (Array.isArray(value)) {
    const array: Array<unknown> = []
    copies.set(value, array)
    for (const element of value) array.push(next(element))
    return array
  }
  if (!modelOwnHolds(value, credentials, depth, new WeakSet([value]))) {
    const json = jsonOf(value)
    if (json !== noJson) {
      const copy = next(json)
      copies.set(value, copy)
      return copy
    }
  }
  const copy: object = Object.create(Object.getPrototypeOf(value) as object | null)
  copies.set(value, copy)
  for (const { enumerable, key, value: inner } of ownValues(value)) {
    Object.defineProperty(copy, key, { value: next(inner), writable: true, enumerable, configurable: true })
  }
  return copy
}

const modelHide = (value: unknown, credentials: ReadonlyArray<string>): unknown =>
  modelHolds(value, credentials, 0, undefined) ? modelScrub(value, credentials, 0, new WeakMap()) : value

// The comparison -------------------------------------------------------------------------------------------------

/**
 * Whether the two copies are the same: equal strings and primitives, the same parts kept, and the copies of the same
 * shape (prototype, own keys, their enumerability, the copy of a part seen twice the same copy in both).
 */
const sameCopy = (expected: unknown, actual: unknown, pairs = new Map<object, unknown>(), at = "value"): void => {
  if (typeof expected !== "object" || expected === null || typeof actual !== "object" || actual === null) {
    expect(actual, at).toStrictEqual(expected)
    return
  }
  if (expected === actual) return
  if (pairs.has(expected)) {
    expect(pairs.get(expected) === actual, `${at}: the copy of a part seen before`).toBe(true)
    return
  }
  pairs.set(expected, actual)
  expect(Object.getPrototypeOf(actual), `${at}: prototype`).toBe(Object.getPrototypeOf(expected))
  const keys = Reflect.ownKeys(expected)
  expect(Reflect.ownKeys(actual), `${at}: keys`).toStrictEqual(keys)
  for (const key of keys) {
    const want = Object.getOwnPropertyDescriptor(expected, key)!
    const got = Object.getOwnPropertyDescriptor(actual, key)!
    expect(got.enumerable, `${at}.${String(key)}: enumerable`).toBe(want.enumerable)
    sameCopy(want.value, got.value, pairs, `${at}.${String(key)}`)
  }
}

// The values -----------------------------------------------------------------------------------------------------

const credentials = ["token-0123456789", "s3cret-password"]

const text = fc.oneof(
  fc.constantFrom("", "plain", "token-0123456789", "s3cret-password", "token-012345678"),
  fc.tuple(fc.string({ maxLength: 4 }), fc.constantFrom(...credentials), fc.string({ maxLength: 4 })).map(
    ([before, secret, after]) => before + secret + after
  )
)

const leaf: fc.Arbitrary<unknown> = fc.oneof(
  text,
  fc.integer(),
  fc.constant(null),
  fc.constant(undefined),
  text.map((value) => Redacted.make(value)),
  fc.date({ noInvalidDate: true }),
  text.map((value) => new URL(`https://example.com/search?q=x&api_key=${encodeURIComponent(value)}`)),
  text.map((value) => new URL(`https://user:${encodeURIComponent(value)}@example.com/`))
)

type Shape = (inner: ReadonlyArray<unknown>, label: string) => unknown

/** Objects of each kind made of generated parts. */
const shapes: ReadonlyArray<Shape> = [
  (inner) => [...inner],
  (inner) => Object.fromEntries(inner.map((value, i) => [`k${i}`, value])),
  (inner, label) => {
    const error = new Error(label, inner.length > 0 ? { cause: inner[0] } : undefined)
    Object.assign(error, Object.fromEntries(inner.slice(1).map((value, i) => [`f${i}`, value])))
    return error
  },
  // An object whose `toJSON()` gives a part (as a `URL` gives its `href`), its state in a property no key reaches.
  (inner, label) => {
    const state = inner.length > 0 ? inner[0] : label
    const object = { toJSON: () => state }
    Object.defineProperty(object, "label", { value: label, enumerable: false })
    return object
  },
  // A getter, read each time it is asked for.
  (inner) => {
    const object: Record<string, unknown> = {}
    inner.forEach((value, i) => Object.defineProperty(object, `g${i}`, { get: () => value, enumerable: true }))
    return object
  },
  // A class instance whose own properties are the parts.
  (inner) => Object.assign(new (class Part {})(), { parts: inner })
]

interface Plan {
  readonly tree: Node
  /** Properties added after the tree is built: the `from`th object gets one holding the `to`th. */
  readonly links: ReadonlyArray<{ readonly from: number; readonly to: number }>
}

type Node = { readonly leaf: unknown } | {
  readonly shape: number
  readonly label: string
  readonly inner: ReadonlyArray<Node>
}

const node: fc.Arbitrary<Node> = fc.letrec<{ node: Node }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf.map((value) => ({ leaf: value })),
    fc.record({
      shape: fc.nat({ max: shapes.length - 1 }),
      label: text,
      inner: fc.array(tie("node"), { maxLength: 4 })
    })
  )
})).node

/** A chain of objects `depth` deep around the node: values nested past the depth the copy searches. */
const nested = (tree: Node, depth: number): Node =>
  depth === 0 ? tree : { shape: 1, label: "", inner: [nested(tree, depth - 1)] }

const plan: fc.Arbitrary<Plan> = fc.record({
  tree: fc.tuple(node, fc.nat({ max: 20 })).map(([tree, depth]) => nested(tree, depth)),
  links: fc.array(fc.record({ from: fc.nat(), to: fc.nat() }), { maxLength: 4 })
})

/** Builds the value of a plan, with its links: the same object in two places, cycles. */
const build = ({ links, tree }: Plan): unknown => {
  const objects: Array<object> = []
  const make = (at: Node): unknown => {
    if ("leaf" in at) return at.leaf
    const value = shapes[at.shape]!(at.inner.map(make), at.label)
    if (typeof value === "object" && value !== null && Object.isExtensible(value)) objects.push(value)
    return value
  }
  const value = make(tree)
  if (objects.length > 0) {
    links.forEach(({ from, to }, i) => {
      Object.defineProperty(objects[from % objects.length]!, `link${i}`, {
        value: objects[to % objects.length],
        enumerable: true,
        configurable: true
      })
    })
  }
  return value
}

const defectOf = (cause: Cause.Cause<unknown>): unknown => Option.getOrThrow(Cause.dieOption(cause))

describe("the copy of a failure's value with its credentials hidden", () => {
  it("hides what the model hides, copies what it copies and keeps what it keeps", () => {
    fc.assert(
      fc.property(plan, (drawn) => {
        const value = build(drawn)
        const expected = modelHide(value, credentials)
        const actual = defectOf(hideCredentials(Cause.die(value), credentials))
        sameCopy(expected, actual)
      }),
      { numRuns: 2000 }
    )
  })

  it("a part that quotes none is the part itself; a part that quotes one is a copy", () => {
    const kept = { date: new Date(0), list: [1, "plain"] }
    const url = new URL("https://example.com/?api_key=token-0123456789")
    const value = { kept, url, nested: { error: new Error("with s3cret-password") } }
    const copy = defectOf(hideCredentials(Cause.die(value), credentials)) as typeof value
    expect(copy).not.toBe(value)
    expect(copy.kept).toBe(kept)
    expect(copy.url).toBe("https://example.com/?api_key=<redacted>")
    expect(copy.nested.error).toBeInstanceOf(Error)
    expect(copy.nested.error.message).toBe("with <redacted>")
    sameCopy(modelHide(value, credentials), copy)
  })
})
