import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import * as AsyncApi from "../src/Events/AsyncApi.js"
import * as EventCatalogue from "../src/Events/EventCatalogue.js"
import { interopPath } from "./support/interop.js"

type J = unknown
const document = AsyncApi.make(EventCatalogue.definitions, { streams: EventCatalogue.streams })
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
    const expected = AsyncApi.make(EventCatalogue.definitions, {
      title: "GLAM events",
      version: pkg.version,
      streams: EventCatalogue.streams
    })
    expect(onDisk).toStrictEqual(JSON.parse(JSON.stringify(expected)))
  })
})
