import { describe, expect, it } from "@effect/vitest"
import { Arbitrary, Effect, FastCheck, Option, TestClock } from "effect"
import { createHash } from "node:crypto"
import * as CatalogEvents from "../src/Events/catalogue/CatalogEvents.js"
import * as CreditEvents from "../src/Events/catalogue/CreditEvents.js"
import * as NotificationEvents from "../src/Events/catalogue/NotificationEvents.js"
import * as SchedulerEvents from "../src/Events/catalogue/SchedulerEvents.js"
import * as WebhookEvents from "../src/Events/catalogue/WebhookEvents.js"
import * as EventCatalogue from "../src/Events/EventCatalogue.js"
import * as EventEnvelope from "../src/Events/EventEnvelope.js"
import type * as EventDefinition from "../src/Events/Events.js"
import * as IdempotencyKey from "../src/Events/IdempotencyKey.js"
import * as Streams from "../src/Events/Streams.js"
import { pythonConsumerCheck, readVector } from "./support/interop.js"
import { toolAvailable } from "./support/tools.js"

const pythonFound = toolAvailable("python3")

const subjects = (defs: ReadonlyArray<EventDefinition.EventDefinition.Any>, kind: EventDefinition.Kind) =>
  defs.filter((d) => d.kind === kind).map((d) => d.subject)

describe("Catalogues of seed 002", () => {
  it("catalog: 5 commands and 6 events", () => {
    expect(subjects(CatalogEvents.definitions, "command")).toStrictEqual([
      "cmd.catalog.sync_initial",
      "cmd.catalog.sync_update",
      "cmd.catalog.process_images",
      "cmd.catalog.analyze_items",
      "cmd.catalog.enrich_with_ai"
    ])
    expect(subjects(CatalogEvents.definitions, "event")).toStrictEqual([
      "evt.catalog.sync_started",
      "evt.catalog.sync_completed",
      "evt.catalog.sync_failed",
      "evt.catalog.images_processed",
      "evt.catalog.items_analyzed",
      "evt.catalog.ai_enriched"
    ])
  })

  it("credit: 4 events, each in a stream that holds it", () => {
    expect(CreditEvents.definitions.map((d) => [d.subject, d.stream.name])).toStrictEqual([
      ["evt.order.updated", "ORDER"],
      ["evt.account.created", "ACCOUNT"],
      ["evt.subscription.renewed", "SUBSCRIPTION"],
      ["evt.merchant.created", "MERCHANT"]
    ])
  })

  it("notification: 2 commands and 3 events", () => {
    expect(subjects(NotificationEvents.definitions, "command")).toStrictEqual([
      "cmd.notification.send_email",
      "cmd.notification.bulk_send"
    ])
    expect(subjects(NotificationEvents.definitions, "event")).toStrictEqual([
      "evt.notification.email.sent",
      "evt.notification.email.failed",
      "evt.notification.bulk_send.completed"
    ])
  })

  it("scheduler: 7 commands and 9 events, ScheduleType and ExecutionStatus", () => {
    expect(subjects(SchedulerEvents.definitions, "command")).toStrictEqual([
      "cmd.scheduler.schedule.create",
      "cmd.scheduler.schedule.update",
      "cmd.scheduler.schedule.delete",
      "cmd.scheduler.schedule.pause",
      "cmd.scheduler.schedule.resume",
      "cmd.scheduler.schedule.trigger",
      "cmd.scheduler.execute.immediate"
    ])
    expect(subjects(SchedulerEvents.definitions, "event")).toStrictEqual([
      "evt.scheduler.schedule.created",
      "evt.scheduler.schedule.updated",
      "evt.scheduler.schedule.deleted",
      "evt.scheduler.schedule.paused",
      "evt.scheduler.schedule.resumed",
      "evt.scheduler.schedule.triggered",
      "evt.scheduler.execution.started",
      "evt.scheduler.execution.completed",
      "evt.scheduler.execution.failed"
    ])
    expect(SchedulerEvents.ScheduleType.literals).toStrictEqual(["cron", "interval", "one_time", "immediate"])
    expect(SchedulerEvents.ExecutionStatus.literals).toStrictEqual([
      "pending",
      "running",
      "success",
      "failed",
      "skipped"
    ])
  })

  it("webhook: the WEBHOOKS stream, domain `webhooks`", () => {
    expect(Streams.streamForSubject(`evt.${WebhookEvents.subject("shopify.orders_create")}`)).toStrictEqual(
      Option.some(Streams.WEBHOOKS)
    )
  })

  it("every subject is unique and lands in its definition's stream", () => {
    const all = EventCatalogue.definitions
    expect(all).toHaveLength(36)
    expect(new Set(all.map((d) => d.subject)).size).toBe(36)
    for (const d of all) {
      expect(Streams.holds(d.stream, d.subject)).toBe(true)
      expect(EventCatalogue.streams).toContain(d.stream)
    }
    expect(EventCatalogue.streams.map((s) => s.name)).toStrictEqual([
      ...Streams.all.map((s) => s.name),
      "ORDER",
      "ACCOUNT",
      "SUBSCRIPTION"
    ])
  })

  for (const definition of EventCatalogue.definitions) {
    const subject = definition.subject
    it.effect.skipIf(!pythonFound)(
      `${subject}: a generated envelope decodes back and passes the Python consumer check`,
      () =>
        Effect.gen(function*() {
          const def = definition as EventDefinition.EventDefinition<unknown, unknown>
          const [payload] = FastCheck.sample(Arbitrary.make(def.schema), { numRuns: 1, seed: subject.length })
          const envelope = yield* EventEnvelope.make(def, payload, { sourceService: "test-service" })
          const body = yield* EventEnvelope.encodeBody(envelope)
          const decoded = yield* EventEnvelope.decode(def, body)
          expect(decoded.envelope.subject).toBe(subject)
          const check = yield* Effect.promise(() => pythonConsumerCheck([body], subject))
          expect(check.output).toContain("accepted")
          expect(check.status).toBe(0)
        })
    )
  }
})

describe("IdempotencyKey.generate (generate_idempotency_key)", () => {
  it("the docstring's examples", () => {
    expect(IdempotencyKey.generate("SHOPIFY", "ORDER", "123456")).toBe("SHOPIFY_ORDER_123456")
    expect(IdempotencyKey.generate("STRIPE", "PAYMENT", "pi_abc123")).toBe("STRIPE_PAYMENT_pi_abc123")
    expect(IdempotencyKey.generate("SHOPIFY", "ORDER", "123", "TESTSTORE")).toBe("SHOPIFY_ORDER_123_TESTSTORE")
  })

  it("upper-cases and turns - and . into _ in all parts but the identifier", () => {
    expect(IdempotencyKey.generate("shopify-app", "order.create", "a-b.c", "test-store.com")).toBe(
      "SHOPIFY_APP_ORDER_CREATE_a-b.c_TEST_STORE_COM"
    )
    expect(IdempotencyKey.generate("internal", "item_created", 42)).toBe("INTERNAL_ITEM_CREATED_42")
    expect(IdempotencyKey.generate("internal", "x", "7c9e6679-7425-40de-944b-e07fc1f90ae7", "")).toBe(
      "INTERNAL_X_7c9e6679-7425-40de-944b-e07fc1f90ae7"
    )
  })
})

describe("NotificationEvents helpers", () => {
  const vector = JSON.parse(readVector("events", "helper-send-email-command.json").toString("utf8"))
  const options: NotificationEvents.SendEmailOptions = {
    merchantId: "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    merchantDomain: "teststore.myshopify.com",
    recipientEmail: "ana@example.com",
    notificationType: "order_confirmation",
    dynamicContent: vector.payload.recipient.dynamic_content,
    unsubscribeToken: "unsub_8d7c6b5a",
    correlationId: "019a8f3e-4c2b-7d1a-9e3f-6b5c4d3e2f10",
    metadata: { source_service: "merchant-service" }
  }

  it.effect.skipIf(!pythonFound)(
    "create_send_email_command reproduces the Python helper's vector",
    () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(Date.UTC(2026, 10, 21, 14, 5, 0))
        const envelope = yield* NotificationEvents.createSendEmailCommand(options)
        expect(envelope.idempotency_key).toBe("send_33bd94af11ec2c6e")
        expect(envelope.idempotency_key).toBe(vector.idempotency_key)
        expect(envelope.subject).toBe(vector.subject)
        expect(envelope.correlation_id).toBe(vector.correlation_id)
        expect(envelope.trace_id).toBe(vector.trace_id)
        expect(envelope.payload).toStrictEqual(vector.payload)
        expect(envelope.metadata).toMatchObject(vector.metadata)
        expect(EventEnvelope.headers(envelope)["Nats-Msg-Id"]).toBe("send_33bd94af11ec2c6e")
        const body = yield* EventEnvelope.encodeBody(envelope)
        expect((yield* Effect.promise(() => pythonConsumerCheck([body], vector.subject))).status).toBe(0)
      })
  )

  it.effect("the send_email key is send_<16 hex>, the same within a UTC hour and new the next", () =>
    Effect.gen(function*() {
      const keyAt = (ms: number, extra: Partial<NotificationEvents.SendEmailOptions> = {}) =>
        Effect.zipRight(
          TestClock.setTime(ms),
          Effect.map(NotificationEvents.createSendEmailCommand({ ...options, ...extra }), (e) => e.idempotency_key)
        )
      const start = Date.UTC(2026, 10, 21, 14, 0, 0)
      const first = yield* keyAt(start)
      expect(first).toMatch(/^send_[0-9a-f]{16}$/)
      expect(yield* keyAt(start + 59 * 60_000 + 59_999)).toBe(first)
      expect(yield* keyAt(start + 3_600_000)).not.toBe(first)
      expect(yield* keyAt(start, { recipientEmail: "bo@example.com" })).not.toBe(first)
      expect(yield* keyAt(start, { merchantId: options.merchantId.toUpperCase() })).toBe(first)
      expect(yield* keyAt(start, { idempotencyKey: "mine" })).toBe("mine")
      const expected = createHash("sha256")
        .update("7c9e6679-7425-40de-944b-e07fc1f90ae7:order_confirmation:ana@example.com:2026112114")
        .digest("hex").slice(0, 16)
      expect(first).toBe(`send_${expected}`)
    }))

  it.effect("create_bulk_email_command: bulk_<16 hex> of type, count and timestamp; dynamic_content defaults", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2026, 10, 21, 14, 5, 0))
      const recipient = {
        merchant_id: "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        merchant_domain: "teststore.myshopify.com",
        email: "ana@example.com",
        unsubscribe_token: "u1"
      }
      const envelope = yield* NotificationEvents.createBulkEmailCommand({
        notificationType: "weekly_digest",
        recipients: [recipient, { ...recipient, email: "bo@example.com", dynamic_content: { n: 1 } }]
      })
      const expected = createHash("sha256").update("bulk:weekly_digest:2:2026-11-21T14:05:00+00:00").digest("hex")
      expect(envelope.idempotency_key).toBe(`bulk_${expected.slice(0, 16)}`)
      expect(envelope.subject).toBe("cmd.notification.bulk_send")
      expect(envelope.metadata?.source_service).toBe("unknown")
      const decoded = yield* EventEnvelope.decodeEvent(NotificationEvents.BulkSend, envelope)
      expect(decoded.payload.recipients.map((r) => r.dynamic_content)).toStrictEqual([{}, { n: 1 }])
    }))
})
