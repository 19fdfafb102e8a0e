/**
 * Stream definitions refuse, as `ValidationError`s naming the field, what JetStream refuses: the boundary of the
 * name's length is checked against the real server (nats-server 2.9.10 refuses more than 255 characters).
 */
import { describe, expect, it } from "@effect/vitest"
import { jetstreamManager, StorageType } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Effect } from "effect"
import { BusConfig } from "../src/Bus/index.js"
import * as GlamConfig from "../src/Config/index.js"
import { ValidationError } from "../src/Errors/index.js"
import * as Streams from "../src/Events/Streams.js"
import { serviceAvailable, services } from "./support/services.js"

const natsUp = await serviceAvailable("nats")
const url = `nats://${services.nats.host}:${services.nats.port}`
const run = `SN${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`.toUpperCase()

const refusal = (f: () => unknown): ValidationError => {
  try {
    f()
  } catch (error) {
    if (error instanceof ValidationError) return error
    throw new Error(`expected a ValidationError, got ${String(error)}`)
  }
  throw new Error("expected a ValidationError, nothing was thrown")
}

describe("Streams.make", () => {
  it("refuses a bad name, domain or subject filter with a ValidationError naming the field", () => {
    const name = refusal(() => Streams.make("ORDERS.EU"))
    expect(name.details).toMatchObject({ field: "name" })
    expect(refusal(() => Streams.make("")).details).toMatchObject({ field: "name", reason: "is empty" })
    expect(refusal(() => Streams.make("A/B")).details).toMatchObject({ field: "name" })
    expect(refusal(() => Streams.make("A B")).details).toMatchObject({ field: "name" })
    expect(refusal(() => Streams.make("ORDERS", { domain: "a.b" })).details).toMatchObject({ field: "domain" })
    expect(refusal(() => Streams.make("BAD", { subjects: ["appointment.>.x"] })).details).toMatchObject({
      field: "subjects"
    })
    expect(refusal(() => Streams.make("BAD", { subjects: [] })).details).toMatchObject({ field: "subjects" })
    // Input from outside the type system (a YAML list, a JS caller) is refused the same way, never a TypeError.
    const untyped = Streams.make as (name: unknown, options?: unknown) => Streams.StreamDefinition
    expect(refusal(() => untyped(42)).details).toMatchObject({ field: "name", reason: "is not a string" })
    expect(refusal(() => untyped("OK", { subjects: [7] })).details).toMatchObject({ field: "subjects" })
  })

  it("refuses a name over 255 characters and keeps the message short", () => {
    const error = refusal(() => Streams.make("S".repeat(300)))
    expect(error.details).toMatchObject({ field: "name" })
    expect(error.details?.reason).toContain("255")
    expect(error.message.length).toBeLessThan(200)
    expect(Streams.make("S".repeat(255)).name).toHaveLength(255)
  })

  it("nats.streams refuses a name JetStream would refuse", () =>
    Effect.gen(function*() {
      const declaring = (streams: string) =>
        Effect.withConfigProvider(
          BusConfig.declaredStreams,
          GlamConfig.provider(GlamConfig.fromObject({ service: { name: "x" }, nats: { streams } }))
        )
      expect(yield* declaring(`ORDERS,${"P".repeat(255)}`)).toEqual(["ORDERS", "P".repeat(255)])
      const invalid = yield* Effect.flip(declaring(`ORDERS,${"P".repeat(256)}`))
      expect(String(invalid)).toContain("nats.streams")
      expect(String(invalid)).toContain("255")
    }).pipe(Effect.runPromise))
})

describe.skipIf(!natsUp)("stream names on the real server", () => {
  it("the server takes what Streams.make takes and refuses what it refuses, at the length boundary", async () => {
    const nc = await connect({ servers: url })
    try {
      const jsm = await jetstreamManager(nc)
      for (const length of [255, 256]) {
        const name = `${run}${"X".repeat(400)}`.slice(0, length)
        const subject = `${run.toLowerCase()}${length}.>`
        const ours = (() => {
          try {
            Streams.make(name, { subjects: [subject] })
            return "taken"
          } catch (error) {
            return error instanceof ValidationError ? "refused" : `threw ${String(error)}`
          }
        })()
        const server = await jsm.streams.add({ name, subjects: [subject], storage: StorageType.Memory }).then(
          async () => {
            await jsm.streams.delete(name)
            return "taken"
          },
          () => "refused"
        )
        expect({ length, ours }).toEqual({ length, ours: server })
      }
    } finally {
      await nc.close()
    }
  })
})
