import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as path from "node:path"
import { ValidationError } from "../src/Errors/index.js"
import * as AsyncApi from "../src/Events/AsyncApi.js"
import * as EventCatalogue from "../src/Events/EventCatalogue.js"
import * as Events from "../src/Events/Events.js"
import * as Streams from "../src/Events/Streams.js"
import { interopPath } from "./support/interop.js"

type J = unknown
const document = AsyncApi.unsafeMake(EventCatalogue.definitions, { streams: EventCatalogue.streams })
const root = document as unknown as { [key: string]: J }

const resolve = (ref: string): J => {
  expect(ref.startsWith("#/")).toBe(true)
  let node: J = root
  for (const raw of ref.slice(2).split("/")) {
    const key = raw.replaceAll("~1", "/").replaceAll("~0", "~")
    expect(node !== null && typeof node === "object" && key in (node as object), `${ref} resolves`).toBe(true)
    node = (node as { [key: string]: J })[key]
  }
  return node
}

const refs = (node: J, out: Array<string> = []): Array<string> => {
  if (Array.isArray(node)) node.forEach((n) => refs(n, out))
  else if (node !== null && typeof node === "object") {
    for (const [k, v] of Object.entries(node)) {
      if (k === "$ref" && typeof v === "string") out.push(v)
      else refs(v, out)
    }
  }
  return out
}

// A validator for the JSON Schema keywords the generator emits, to check the document against real envelopes.
const validate = (schema: J, value: J): boolean => {
  if (schema === true || schema === undefined) return true
  if (schema === false) return false
  const s = schema as { [k: string]: J }
  if (typeof s.$ref === "string") return validate(resolve(s.$ref), value)
  if (Array.isArray(s.allOf) && !s.allOf.every((x) => validate(x, value))) return false
  if (Array.isArray(s.anyOf) && !s.anyOf.some((x) => validate(x, value))) return false
  if (Array.isArray(s.enum) && !s.enum.includes(value)) return false
  if ("const" in s && s.const !== value) return false
  const isObject = value !== null && typeof value === "object" && !Array.isArray(value)
  switch (s.type) {
    case "object":
      if (!isObject) return false
      break
    case "array":
      if (!Array.isArray(value)) return false
      break
    case "string":
      if (typeof value !== "string") return false
      break
    case "integer":
      if (!Number.isInteger(value)) return false
      break
    case "number":
      if (typeof value !== "number") return false
      break
    case "boolean":
      if (typeof value !== "boolean") return false
      break
    case "null":
      if (value !== null) return false
      break
  }
  if (typeof value === "string") {
    if (typeof s.minLength === "number" && value.length < s.minLength) return false
    if (typeof s.pattern === "string" && !new RegExp(s.pattern).test(value)) return false
  }
  if (typeof value === "number") {
    if (typeof s.minimum === "number" && value < s.minimum) return false
    if (typeof s.maximum === "number" && value > s.maximum) return false
  }
  if (Array.isArray(value) && s.items !== undefined && !value.every((v) => validate(s.items, v))) return false
  if (isObject) {
    const obj = value as { [k: string]: J }
    if (Array.isArray(s.required) && !s.required.every((k) => typeof k === "string" && k in obj)) return false
    const props = (s.properties ?? {}) as { [k: string]: J }
    for (const [k, v] of Object.entries(obj)) {
      if (k in props) {
        if (!validate(props[k], v)) return false
      } else if (s.additionalProperties !== undefined && !validate(s.additionalProperties, v)) return false
    }
  }
  return true
}

const messageFor = (subject: string) => {
  const channel = Object.values(document.channels).find((c) => (c as { address: string }).address === subject) as {
    messages: { [name: string]: { $ref: string } }
  }
  const [ref] = Object.values(channel.messages)
  return resolve(ref!.$ref) as { payload: J; headers: J; contentType: string }
}

describe("AsyncApi", () => {
  it("is an AsyncAPI 3.0.0 document", () => {
    expect(document.asyncapi).toBe("3.0.0")
    expect(document.info.title).toBe("GLAM events")
    expect(typeof document.info.version).toBe("string")
    expect(document.defaultContentType).toBe("application/json")
    expect(Object.keys(root).sort()).toStrictEqual(
      ["asyncapi", "channels", "components", "defaultContentType", "info", "operations", "x-streams"]
    )
  })

  it("has one channel per subject of the catalogue, with its stream", () => {
    const channels = Object.entries(document.channels) as Array<[string, { address: string; "x-stream": string }]>
    expect(channels.map(([, c]) => c.address).sort()).toStrictEqual(
      EventCatalogue.definitions.map((d) => d.subject).sort()
    )
    for (const [id, channel] of channels) {
      expect(id).toMatch(/^[\w\d.\-_]+$/)
      const definition = EventCatalogue.definitions.find((d) => d.subject === channel.address)!
      expect(channel["x-stream"]).toBe(definition.stream.name)
    }
    expect((document["x-streams"] as Array<{ name: string }>).map((s) => s.name)).toHaveLength(13)
  })

  it("every $ref resolves and every operation sends a message of its channel", () => {
    for (const ref of refs(document)) resolve(ref)
    expect(Object.keys(document.operations)).toHaveLength(EventCatalogue.definitions.length)
    for (
      const op of Object.values(document.operations) as Array<
        { action: string; channel: { $ref: string }; messages: Array<{ $ref: string }> }
      >
    ) {
      expect(["send", "receive"]).toContain(op.action)
      expect(op.messages.every((m) => m.$ref.startsWith(`${op.channel.$ref}/messages/`))).toBe(true)
    }
  })

  it("message payloads are JSON Schemas that accept the wire vectors and reject bad ones", () => {
    const vectors = interopPath("events")
    const cases = [
      "publisher-catalog-sync-started.json",
      "publisher-email-sent-4-tokens.json",
      "publisher-scheduler-extra-field.json",
      "helper-send-email-command.json"
    ]
    for (const name of cases) {
      const body = JSON.parse(fs.readFileSync(path.join(vectors, name), "utf8"))
      const message = messageFor(body.subject)
      expect(message.contentType).toBe("application/json")
      expect(validate(message.payload, body), name).toBe(true)
      expect(validate(message.payload, { ...body, payload: undefined }), `${name} without payload`).toBe(false)
      expect(validate(message.payload, { ...body, subject: "evt.other.x" }), `${name} other subject`).toBe(false)
    }
    const started = messageFor("evt.catalog.sync_started")
    const sample = JSON.parse(fs.readFileSync(path.join(vectors, cases[0]!), "utf8"))
    expect(validate(started.payload, { ...sample, payload: { sync_id: "x" } })).toBe(false)
    expect(validate(messageFor("cmd.scheduler.schedule.create").payload, {
      ...sample,
      subject: "cmd.scheduler.schedule.create",
      payload: { name: "n", schedule_type: "hourly", target_command: "cmd.x.y" }
    })).toBe(false)
  })

  it("docs/asyncapi.json is the generated document (run `npm run asyncapi`)", () => {
    const file = path.resolve(process.cwd(), "docs/asyncapi.json")
    const onDisk = JSON.parse(fs.readFileSync(file, "utf8"))
    const pkg = JSON.parse(fs.readFileSync(path.resolve(process.cwd(), "package.json"), "utf8"))
    const expected = AsyncApi.unsafeMake(EventCatalogue.definitions, {
      title: "GLAM events",
      version: pkg.version,
      streams: EventCatalogue.streams
    })
    expect(onDisk).toStrictEqual(JSON.parse(JSON.stringify(expected)))
  })

  describe("names that clash", () => {
    const stream = Streams.make("ASYNCAPI_CLASH", { subjects: ["evt.clash.>"] })
    // The node at a local `$ref` of `doc`.
    const at = (doc: AsyncApi.AsyncApiDocument, ref: string): J =>
      ref.slice(2).split("/").reduce<J>((node, key) => (node as { [key: string]: J })[key], doc)
    const payloadOf = (doc: AsyncApi.AsyncApiDocument, subject: string): { [key: string]: J } => {
      const channel = Object.values(doc.channels).find((c) => (c as { address: string }).address === subject) as {
        messages: { [name: string]: { $ref: string } }
      }
      const [ref] = Object.values(channel.messages)
      const message = at(doc, ref!.$ref) as { title: string; payload: { allOf: Array<J> } }
      expect(message.title).toBe(subject)
      const own = message.payload.allOf[1] as { properties: { subject: { const: string }; payload: J } }
      expect(own.properties.subject.const).toBe(subject)
      return own.properties.payload as { [key: string]: J }
    }

    it("subjects that give the same message name or channel id each keep their own channel and message", () => {
      const subjects = ["evt.clash.a.b_c", "evt.clash.a_b.c", "evt.clash.x/y", "evt.clash.x_y"]
      const definitions = subjects.map((subject, i) =>
        Events.event(subject, Schema.Struct({ [`field${i}`]: Schema.String }), { stream })
      )
      const doc = AsyncApi.unsafeMake(definitions)
      expect(Object.values(doc.channels).map((c) => (c as { address: string }).address).sort())
        .toStrictEqual([...subjects].sort())
      expect(Object.keys(doc.components.messages)).toHaveLength(4)
      expect(Object.keys(doc.operations)).toHaveLength(4)
      subjects.forEach((subject, i) => {
        expect(Object.keys(payloadOf(doc, subject)["properties"] as object)).toStrictEqual([`field${i}`])
      })
      for (const id of Object.keys(doc.channels)) expect(id).toMatch(/^[\w\d.\-_]+$/)
    })

    it("payload schemas with the same identifier each keep their own definition; equal ones share it", () => {
      const ItemA = Schema.Struct({ a: Schema.String }).annotations({ identifier: "Item" })
      const ItemB = Schema.Struct({ b: Schema.Number }).annotations({ identifier: "Item" })
      const Holder = Schema.Struct({ item: ItemB, items: Schema.Array(ItemB) }).annotations({ identifier: "Holder" })
      const doc = AsyncApi.unsafeMake([
        Events.event("evt.clash.first", Schema.Struct({ item: ItemA }), { stream }),
        Events.event("evt.clash.second", Schema.Struct({ holder: Holder }), { stream }),
        Events.event("evt.clash.third", Schema.Struct({ item: ItemB }), { stream }),
        Events.event("evt.clash.fourth", Schema.Struct({ item: ItemA }), { stream }),
        Events.event(
          "evt.clash.fifth",
          Schema.Struct({ item: Schema.Struct({ c: Schema.Boolean }) }).annotations({
            identifier: "Reading v2/kWh"
          }),
          { stream }
        )
      ])
      for (const key of Object.keys(doc.components.schemas)) expect(key).toMatch(/^[\w\d.\-_]+$/)
      expect(Object.keys(doc.components.schemas)).toContain("Reading_v2_kWh")
      const itemOf = (subject: string, ...path: Array<string>): { [key: string]: J } => {
        let node: J = payloadOf(doc, subject)
        for (const key of path) {
          const n = node as { [key: string]: J }
          node = typeof n.$ref === "string" ? at(doc, n.$ref) : n
          node = (node as { [key: string]: J })[key]
        }
        const ref = (node as { $ref: string }).$ref
        return at(doc, ref) as { [key: string]: J }
      }
      expect(itemOf("evt.clash.first", "properties", "item")["properties"]).toStrictEqual({ a: { type: "string" } })
      expect(itemOf("evt.clash.third", "properties", "item")["properties"]).toStrictEqual({ b: { type: "number" } })
      expect(itemOf("evt.clash.fourth", "properties", "item")).toBe(itemOf("evt.clash.first", "properties", "item"))
      const holder = itemOf("evt.clash.second", "properties", "holder") as { properties: { [key: string]: J } }
      expect(at(doc, (holder.properties["item"] as { $ref: string }).$ref)).toStrictEqual(
        itemOf("evt.clash.third", "properties", "item")
      )
      const items = holder.properties["items"] as { items: { $ref: string } }
      expect((at(doc, items.items.$ref) as { properties: J }).properties).toStrictEqual({ b: { type: "number" } })
      expect(Object.keys(doc.components.schemas).filter((k) => k.startsWith("Item")).sort())
        .toStrictEqual(["Item", "Item_2"])
      for (const ref of refs(doc)) expect(at(doc, ref), ref).toBeDefined()
    })
  })

  describe("definitions it cannot describe", () => {
    const stream = Streams.make("ASYNCAPI_BAD", { subjects: ["evt.bad.>"] })
    const refusalOf = (definitions: ReadonlyArray<Events.EventDefinition.Any>): ValidationError => {
      const result = AsyncApi.make(definitions)
      if (Either.isRight(result)) expect.fail("a document was made")
      expect(result.left).toBeInstanceOf(ValidationError)
      expect(() => AsyncApi.unsafeMake(definitions)).toThrow(result.left)
      return result.left
    }

    it("two definitions of a subject: a ValidationError naming the subject", () => {
      const error = refusalOf([
        Events.event("evt.bad.twice", Schema.Struct({ a: Schema.String }), { stream }),
        Events.event("evt.bad.twice", Schema.Struct({ b: Schema.String }), { stream })
      ])
      expect(error.message).toBe("AsyncAPI document: evt.bad.twice is defined twice")
      expect(error.details).toMatchObject({ field: "definitions", value: "evt.bad.twice" })
    })

    it("a payload schema with no JSON Schema: a ValidationError naming the subject and the schema", () => {
      const error = refusalOf([
        Events.event("evt.bad.fine", Schema.Struct({ a: Schema.String }), { stream }),
        Events.event("evt.bad.dated", Schema.Struct({ at: Schema.DateFromSelf }), { stream })
      ])
      expect(error.message).toMatch(/^AsyncAPI document: the payload schema of evt\.bad\.dated has no JSON Schema/)
      expect(error.message).toContain("DateFromSelf")
      expect(error.message).toContain(`at path: ["at"]`)
      expect(error.details).toMatchObject({ field: "payload", value: "evt.bad.dated" })
    })

    it("a document of valid definitions is a Right, and unsafeMake gives the same document", () => {
      const definitions = [Events.event("evt.bad.none", Schema.Struct({ a: Schema.String }), { stream })]
      expect(AsyncApi.make(definitions)).toStrictEqual(Either.right(AsyncApi.unsafeMake(definitions)))
    })
  })
})
