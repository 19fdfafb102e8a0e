/**
 * Families of definitions: how a family is made and refused, the consumer filter chosen for the server in use, the
 * handler map's types, and the healthcare fleet's verbatim subjects in one family subscription on both Buses (the
 * vectors of test/fixtures/healthcare). The family cases of the Bus conformance suite run in BusConformance.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Duration, Effect, Layer, Option, Queue, Schema, type Scope } from "effect"
import { readFileSync } from "node:fs"
import { afterAll } from "vitest"
import * as Bus from "../src/Bus/Bus.js"
import * as Family from "../src/Bus/Family.js"
import { BusConfig, BusMemory, JetStream } from "../src/Bus/index.js"
import { coveringFilter } from "../src/Bus/internal/family.js"
import { consumerChanges, consumerFilter, filterUpdate } from "../src/Bus/internal/jetStreamConsumer.js"
import { filterSubjectsSupported } from "../src/Bus/internal/serverVersion.js"
import { consumerSpecOrError } from "../src/Bus/internal/subscriberOptions.js"
import { type MessageBusError, ValidationError } from "../src/Errors/index.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as Streams from "../src/Events/Streams.js"
import { poll, take, unique } from "./fixtures/bus/conformance.js"
import { serviceAvailable, services } from "./support/services.js"

const run = Date.now().toString(36)
const Orders = Streams.make(`FAMORDERS_${run}`.toUpperCase(), { domain: `famorders${run}` })
const N = Schema.Struct({ n: Schema.Number })
const Placed = EventDefinition.event(`famorders${run}.placed`, N, { stream: Orders })
const Shipped = EventDefinition.event(`famorders${run}.shipped`, Schema.Struct({ carrier: Schema.String }), {
  stream: Orders
})
const Audit = EventDefinition.event(`famorders${run}.audit.kept`, N, { stream: Orders })

const consumerSpec = (...args: Parameters<typeof consumerSpecOrError>) => {
  const spec = consumerSpecOrError(...args)
  if (!("durable" in spec)) throw spec
  return spec
}

const refusal = (f: () => unknown): ValidationError => {
  try {
    f()
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError)
    return e as ValidationError
  }
  throw new Error("expected a ValidationError")
}

describe("Family: making one", () => {
  it("a listed family covers its definitions' subjects exactly, under one wildcard filter", () => {
    const family = Family.make({ placed: Placed, shipped: Shipped })
    expect(family.stream).toBe(Orders)
    expect(family.subjects).toEqual([Placed.subject, Shipped.subject])
    expect(family.filter).toBe(`evt.famorders${run}.*`)
    expect(family.covers(Placed.subject)).toBe(true)
    expect(family.covers(`evt.famorders${run}.returned`)).toBe(false)
    expect(Family.make({ placed: Placed }).filter).toBe(Placed.subject)
  })

  it("a family under a prefix covers every subject under it", () => {
    const family = Family.prefix(`evt.famorders${run}.*`, { placed: Placed, shipped: Shipped })
    expect(family.subjects).toEqual([`evt.famorders${run}.*`])
    expect(family.filter).toBe(`evt.famorders${run}.*`)
    expect(family.covers(`evt.famorders${run}.returned`)).toBe(true)
    expect(family.covers(Audit.subject)).toBe(false)
  })

  it("the filter over subjects of different lengths ends in >", () => {
    expect(coveringFilter(["a.b.c", "a.b.d"])).toBe("a.b.*")
    expect(coveringFilter(["a.x.c", "a.y.c"])).toBe("a.*.c")
    expect(coveringFilter(["a.b", "a.b.c"])).toBe("a.>")
    expect(coveringFilter(["a.b.c", "a.d"])).toBe("a.>")
    expect(coveringFilter(["a.b.c"])).toBe("a.b.c")
    const family = Family.make({ placed: Placed, audit: Audit })
    expect(family.filter).toBe(`evt.famorders${run}.>`)
    for (const subject of family.subjects) expect(Streams.subjectMatches(family.filter, subject)).toBe(true)
  })

  it("an empty family, two streams, one subject twice, a bad prefix or a definition outside it are refused", () => {
    expect(refusal(() => Family.make({})).details.field).toBe("definitions")
    const Other = Streams.make(`FAMOTHER_${run}`.toUpperCase(), { domain: `famother${run}` })
    const Elsewhere = EventDefinition.event(`famother${run}.placed`, N, { stream: Other })
    const twoStreams = refusal(() => Family.make({ placed: Placed, elsewhere: Elsewhere }))
    expect(twoStreams.details).toMatchObject({ field: "elsewhere", value: Elsewhere.subject })
    expect(twoStreams.message).toContain("one stream")
    const again = EventDefinition.event(`famorders${run}.placed`, Schema.Struct({ m: Schema.Number }), {
      stream: Orders
    })
    expect(refusal(() => Family.make({ placed: Placed, again })).details.reason).toContain("two handlers")
    expect(refusal(() => Family.prefix("evt..x", { placed: Placed })).details.field).toBe("prefix")
    expect(refusal(() => Family.prefix("evt.>.x", { placed: Placed })).details.field).toBe("prefix")
    expect(refusal(() => Family.prefix("evt.a*", { placed: Placed })).details.field).toBe("prefix")
    const outside = refusal(() => Family.prefix(`evt.famorders${run}.*`, { placed: Placed, audit: Audit }))
    expect(outside.details).toMatchObject({ field: "audit", value: Audit.subject })
  })
})

describe("Family: the consumer's filter on the server in use", () => {
  const family = Family.make({ placed: Placed, shipped: Shipped })
  const spec = consumerSpec(family, { durable: "orders" })

  it("filter_subjects from nats-server 2.10, one wildcard filter_subject before", () => {
    expect(spec.filterSubjects).toEqual([Placed.subject, Shipped.subject])
    expect(consumerFilter(spec, "2.10.0")).toEqual({ filter_subjects: [Placed.subject, Shipped.subject] })
    expect(consumerFilter(spec, "v2.11.3-RC.1")).toEqual({ filter_subjects: [Placed.subject, Shipped.subject] })
    expect(consumerFilter(spec, "2.9.10")).toEqual({ filter_subject: family.filter })
    expect(consumerFilter(spec, undefined)).toEqual({ filter_subject: family.filter })
    expect(filterSubjectsSupported("2.9.25")).toBe(false)
    expect(filterSubjectsSupported("2.10.0")).toBe(true)
    expect(filterSubjectsSupported("3.0.0")).toBe(true)
  })

  it("a durable moved between one filter and several is updated, the other field cleared, the change named", () => {
    const settings = { ack_wait: 30_000_000_000, max_deliver: 5 }
    const several = consumerFilter(spec, "2.10.14")
    const existing = {
      ...settings,
      ack_policy: "explicit",
      deliver_policy: "all",
      filter_subject: family.filter
    } as unknown as Parameters<typeof consumerChanges>[0]
    expect(consumerChanges(existing, { ...settings, filter: several })).toEqual([
      `filter_subjects: ${family.filter} -> ${Placed.subject}, ${Shipped.subject}`
    ])
    // Merged into the existing settings as the client does, then sent as JSON: only filter_subjects is left.
    const sent = JSON.parse(JSON.stringify(Object.assign({ ...existing }, filterUpdate(several))))
    expect(sent.filter_subject).toBeUndefined()
    expect(sent.filter_subjects).toEqual([Placed.subject, Shipped.subject])
    const back = consumerFilter(consumerSpec(Family.make({ placed: Placed }), { durable: "orders" }), "2.10.14")
    const moved = {
      ...existing,
      filter_subject: undefined,
      filter_subjects: sent.filter_subjects
    } as unknown as Parameters<
      typeof consumerChanges
    >[0]
    expect(consumerChanges(moved, { ...settings, filter: back })).toEqual([
      `filter_subject: ${Placed.subject}, ${Shipped.subject} -> ${Placed.subject}`
    ])
    const sentBack = JSON.parse(JSON.stringify(Object.assign({ ...moved }, filterUpdate(back))))
    expect(sentBack.filter_subjects).toBeUndefined()
    expect(sentBack.filter_subject).toBe(Placed.subject)
    // The same filter, listed in another order, is no change.
    const reordered = {
      ...existing,
      filter_subject: undefined,
      filter_subjects: [Shipped.subject, Placed.subject]
    } as unknown as Parameters<typeof consumerChanges>[0]
    expect(consumerChanges(reordered, { ...settings, filter: several })).toEqual([])
  })

  it("one subject (a single definition, or a prefix) is filter_subject on every server", () => {
    const single = consumerSpec(Family.make({ placed: Placed }), { durable: "one" })
    expect(consumerFilter(single, "2.10.4")).toEqual({ filter_subject: Placed.subject })
    const prefixed = consumerSpec(Family.prefix(`evt.famorders${run}.*`, { placed: Placed }), { durable: "p" })
    expect(consumerFilter(prefixed, "2.11.0")).toEqual({ filter_subject: `evt.famorders${run}.*` })
  })
})

describe("Family: the handler map's types", () => {
  it("one handler per definition, typed by its payload; a missing or extra one does not compile", () => {
    const family = Family.make({ placed: Placed, shipped: Shipped })
    const durable = { durable: "typed" }
    // Type checks only: these effects are built, never run.
    const ok = Bus.subscribeFamily(family, durable, {
      placed: (event) => Effect.succeed(event.payload.n + 1),
      shipped: (event) => Effect.succeed(event.payload.carrier.toUpperCase())
    })
    // @ts-expect-error a definition without a handler
    const missing = Bus.subscribeFamily(family, durable, { placed: () => Effect.void })
    const extra = Bus.subscribeFamily(family, durable, {
      placed: () => Effect.void,
      shipped: () => Effect.void,
      // @ts-expect-error a handler of no definition of the family
      returned: () => Effect.void
    })
    const wrongPayload = Bus.subscribeFamily(family, durable, {
      placed: () => Effect.void,
      // @ts-expect-error shipped's payload has no n
      shipped: (event) => Effect.succeed(event.payload.n)
    })
    // The handlers' errors and requirements are the subscription's.
    class Clock extends Schema.TaggedError<Clock>()("Clock", {}) {}
    const failing: Effect.Effect<Bus.Subscription, MessageBusError, Bus.Bus | Scope.Scope> = Bus
      .subscribeFamily(family, durable, {
        placed: () => Effect.fail(new Clock()),
        shipped: () => Effect.void
      })
    expect([ok, missing, extra, wrongPayload, failing].every(Effect.isEffect)).toBe(true)
  })
})

// The healthcare fleet's subjects, verbatim, in a stream of their own (test/fixtures/healthcare).
const HEALTHCARE = Streams.make(`APPOINTMENT_FAMILY_${run}`.toUpperCase(), { subjects: ["appointment.>"] })
const healthcare = { verbatim: true, stream: HEALTHCARE, format: "healthcare" } as const
const Scheduled = EventDefinition.event(
  "appointment.scheduled",
  Schema.Struct({
    event_type: Schema.Literal("appointment.scheduled"),
    appointment_id: Schema.String,
    patient_id: Schema.String,
    doctor_id: Schema.String,
    appointment_time: Schema.String,
    duration_minutes: Schema.Int
  }),
  healthcare
)
const Cancelled = EventDefinition.event(
  "appointment.cancelled",
  Schema.Struct({ appointment_id: Schema.String, reason: Schema.optional(Schema.String) }),
  healthcare
)

interface Vector {
  readonly name: string
  readonly definition: string
  readonly headers: Record<string, string>
  readonly body: string
  readonly expect?: {
    readonly payload: unknown
    readonly correlation_id: string | null
    readonly event_id: string | null
    readonly timestamp?: string
  }
  readonly error?: string
}
const vectors: ReadonlyArray<Vector> = JSON.parse(
  readFileSync(new URL("./fixtures/healthcare/vectors.json", import.meta.url), "utf8")
)

const healthcareFamily = (name: string, layer: Layer.Layer<Bus.Bus, unknown>) =>
  describe(`Family: the healthcare fleet's appointment.* on ${name}`, () => {
    it.scopedLive("each vector reaches its definition's handler as decoded, or is dead-lettered with the field", () =>
      Effect.gen(function*() {
        const Appointments = Family.prefix("appointment.*", { scheduled: Scheduled, cancelled: Cancelled })
        const handled = yield* Queue.unbounded<{
          readonly subject: string
          readonly payload: unknown
          readonly correlationId: string | null | undefined
          readonly eventId: string
          readonly timestamp: string
        }>()
        const durable = unique("appointments")
        const record = (event: Bus.ReceivedEvent<unknown>) =>
          Queue.offer(handled, {
            subject: event.delivery.subject,
            payload: event.payload,
            correlationId: event.envelope.correlation_id,
            eventId: event.envelope.event_id,
            timestamp: event.envelope.timestamp
          })
        const sub = yield* Bus.subscribeFamily(Appointments, {
          durable,
          concurrency: 1,
          ackWait: "2 seconds",
          backoff: ["100 millis"],
          drainTimeout: "3 seconds"
        }, { scheduled: record, cancelled: record })
        expect(sub).toMatchObject({ stream: HEALTHCARE.name, subject: "appointment.*" })
        const sequences = new Map<number, Vector>()
        for (const vector of vectors) {
          const ack = yield* Bus.publishEncoded({
            subject: vector.definition,
            body: vector.body,
            headers: vector.headers,
            msgId: vector.headers["Nats-Msg-Id"] ?? unique("vector")
          })
          sequences.set(ack.sequence, vector)
        }
        // A subject of the family without a definition.
        const rescheduled = yield* Bus.publishEncoded({
          subject: "appointment.rescheduled",
          body: JSON.stringify({ event_type: "appointment.rescheduled", appointment_id: "a-9" }),
          msgId: unique("rescheduled")
        })
        const decodable = vectors.filter((v) => v.expect !== undefined)
        const got = yield* take(handled, decodable.length)
        decodable.forEach((vector, i) => {
          const event = got[i]!
          const expected = vector.expect!
          expect(event.subject, vector.name).toBe(vector.definition)
          expect(event.payload, vector.name).toStrictEqual(expected.payload)
          expect(event.correlationId, vector.name).toBe(expected.correlation_id)
          if (expected.event_id !== null) expect(event.eventId, vector.name).toBe(expected.event_id)
          if (expected.timestamp !== undefined) expect(event.timestamp, vector.name).toBe(expected.timestamp)
        })
        const refused = vectors.filter((v) => v.error !== undefined)
        const letters = yield* poll(
          Bus.deadLetters({ consumer: durable }),
          (l) => l.length === refused.length + 1,
          "dead letters"
        )
        for (const letter of letters) {
          expect(letter.error.tag).toBe("ValidationError")
          if (letter.streamSequence === rescheduled.sequence) {
            expect(letter.error.details).toMatchObject({ field: "subject", value: "appointment.rescheduled" })
            continue
          }
          const vector = sequences.get(letter.streamSequence)!
          expect(letter.error.details.field, vector.name).toBe(vector.error)
          expect(new TextDecoder().decode(letter.body), vector.name).toBe(vector.body)
        }
        yield* poll(sub.lag, (l) => l.pending === 0 && l.ackPending === 0, "every message settled")
        expect(yield* Queue.size(handled)).toBe(0)
      }).pipe(Effect.provide(layer)))
  })

healthcareFamily("memory", BusMemory.layerMemory({ serviceName: "family", streams: [HEALTHCARE] }))

const natsUp = await serviceAvailable("nats")

describe.skipIf(!natsUp)("jetstream", () => {
  const url = `nats://${services.nats.host}:${services.nats.port}`
  const jetStream = JetStream.layer({
    servers: [url],
    user: Option.none(),
    password: Option.none(),
    token: Option.none(),
    serviceName: "family",
    appEnv: "test",
    streams: { ...BusConfig.defaultStreamLimits, duplicateWindow: Duration.minutes(1) },
    publishTimeout: Duration.seconds(2),
    publishRetryBudget: Duration.seconds(10),
    ownStreams: Option.none(),
    ensureStreams: true,
    streamDefinitions: [HEALTHCARE]
  })
  healthcareFamily("jetstream", jetStream)

  it.scopedLive("on this server the consumer's filter is the one its version takes", () =>
    Effect.gen(function*() {
      const nc = yield* Effect.acquireRelease(
        Effect.promise(() => connect({ servers: url })),
        (nc) => Effect.promise(() => nc.close())
      )
      const jsm = yield* Effect.promise(() => jetstreamManager(nc))
      const durable = unique("famfilter")
      const family = Family.make({ scheduled: Scheduled, cancelled: Cancelled })
      yield* Bus.subscribeFamily(family, { durable }, { scheduled: () => Effect.void, cancelled: () => Effect.void })
      const info = yield* Effect.promise(() => jsm.consumers.info(HEALTHCARE.name, durable))
      if (filterSubjectsSupported(nc.info?.version)) {
        expect([...(info.config.filter_subjects ?? [])].sort()).toEqual([Cancelled.subject, Scheduled.subject])
      } else {
        expect(info.config.filter_subject).toBe("appointment.*")
        expect(info.config.filter_subjects ?? []).toEqual([])
      }
    }).pipe(
      Effect.provide(jetStream)
    ))

  afterAll(async () => {
    const nc = await connect({ servers: url })
    const jsm = await jetstreamManager(nc)
    await jsm.streams.delete(HEALTHCARE.name).catch(() => undefined)
    await jsm.streams.purge("DLQ", { filter: `dlq.${HEALTHCARE.name}.>` }).catch(() => undefined)
    await nc.close()
  })
})
