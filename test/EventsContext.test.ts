import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, TestClock } from "effect"
import * as NotificationEvents from "../src/Events/catalogue/NotificationEvents.js"
import * as EventContext from "../src/Events/EventContext.js"
import * as EventEnvelope from "../src/Events/EventEnvelope.js"
import * as Correlation from "../src/Telemetry/Correlation.js"

const uuid4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

describe("EventContext", () => {
  it.effect("a new context takes the correlation id from the fiber and the trace id from the span", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2026, 10, 21, 14, 5, 0))
      const [context, traceId] = yield* Effect.all([
        EventContext.make({ subject: "evt.catalog.sync_started", sourceService: "catalog-service" }),
        Effect.map(Effect.currentSpan, (span) => span.traceId)
      ]).pipe(Effect.withSpan("work"), Correlation.withCorrelationId("corr_aa11bb22cc33"))
      expect(context.correlationId).toBe("corr_aa11bb22cc33")
      expect(context.traceId).toBe(traceId)
      expect(context.eventId).toMatch(uuid4)
      expect(context.timestamp).toBe("2026-11-21T14:05:00+00:00")
      expect(context.sourceService).toBe("catalog-service")
      expect(context.idempotencyKey).toBeNull()
    }))

  it.effect("without a span the trace id falls back to the correlation id, then to a new UUIDv7", () =>
    Effect.gen(function*() {
      const correlated = yield* EventContext.make({ subject: "evt.a.b", sourceService: "s" }).pipe(
        Correlation.withCorrelationId("corr_1")
      )
      expect(correlated.traceId).toBe("corr_1")
      const alone = yield* EventContext.make({ subject: "evt.a.b", sourceService: "s" })
      expect(alone.correlationId).toBeNull()
      expect(alone.traceId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    }))

  it.effect("the context of a received envelope (from_event)", () =>
    Effect.gen(function*() {
      const envelope = yield* EventEnvelope.decodeUnknown({
        event_id: "c2e1d0f9-8b7a-4c6d-9e5f-4a3b2c1d0e9f",
        subject: "evt.notification.email.sent",
        correlation_id: "corr_4f9a1c2b7d3e",
        idempotency_key: "k1",
        timestamp: "2026-11-21T14:05:02.250000+00:00",
        metadata: { source_service: "notification-service", version: "1.0.0", triggered_by: "x" },
        payload: {}
      })
      const context = EventContext.fromEnvelope(envelope)
      expect(context).toStrictEqual({
        eventId: "c2e1d0f9-8b7a-4c6d-9e5f-4a3b2c1d0e9f",
        traceId: "",
        subject: "evt.notification.email.sent",
        correlationId: "corr_4f9a1c2b7d3e",
        timestamp: "2026-11-21T14:05:02.250000+00:00",
        sourceService: "notification-service",
        idempotencyKey: "k1",
        metadata: { version: "1.0.0", triggered_by: "x" }
      })
      const bare = EventContext.fromEnvelope({ event_id: "e", subject: "s", timestamp: "t", metadata: null })
      expect(bare.sourceService).toBe("unknown")
      expect(bare.correlationId).toBeNull()
    }))

  it.effect("a response context keeps correlation and trace and records triggered_by and original_source", () =>
    Effect.gen(function*() {
      const received = EventContext.fromEnvelope({
        event_id: "5a3d2c41-0e6b-4f8a-b7d1-2c9e8f7a6b50",
        trace_id: "019a8f3e-4c2b-7d1a-9e3f-6b5c4d3e2f10",
        subject: "cmd.notification.send_email",
        correlation_id: "corr_4f9a1c2b7d3e",
        timestamp: "2026-11-21T14:05:00.000001+00:00",
        metadata: { source_service: "merchant-service" }
      })
      const response = yield* EventContext.respond(received, {
        subject: "evt.notification.email.sent",
        sourceService: "notification-service",
        metadata: { provider: "sendgrid" }
      }).pipe(Correlation.withCorrelationId("corr_other"))
      expect(response.correlationId).toBe("corr_4f9a1c2b7d3e")
      expect(response.traceId).toBe("019a8f3e-4c2b-7d1a-9e3f-6b5c4d3e2f10")
      expect(response.eventId).not.toBe(received.eventId)
      expect(response.metadata).toStrictEqual({
        triggered_by: "5a3d2c41-0e6b-4f8a-b7d1-2c9e8f7a6b50",
        original_source: "merchant-service",
        provider: "sendgrid"
      })
      // an envelope built from the response context carries the chain on the wire
      const envelope = yield* EventEnvelope.make(NotificationEvents.EmailSent, {
        notification_id: "e7d6c5b4-a392-4817-8f6e-5d4c3b2a1908",
        merchant_id: "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        notification_type: "order_confirmation",
        provider: "sendgrid",
        provider_message_id: "sg_01HZX",
        sent_at: "2026-11-21T14:05:02.249811+00:00",
        metadata: {}
      }, { sourceService: "notification-service", context: response })
      expect(envelope).toMatchObject({
        event_id: response.eventId,
        correlation_id: "corr_4f9a1c2b7d3e",
        trace_id: "019a8f3e-4c2b-7d1a-9e3f-6b5c4d3e2f10",
        metadata: {
          source_service: "notification-service",
          triggered_by: "5a3d2c41-0e6b-4f8a-b7d1-2c9e8f7a6b50",
          original_source: "merchant-service",
          version: "1.0.0"
        }
      })
    }))

  it.effect("within sets the fiber's correlation and causation from a received context", () =>
    Effect.gen(function*() {
      const received = EventContext.fromEnvelope({
        event_id: "evt-1",
        subject: "evt.a.b",
        correlation_id: "corr_x",
        timestamp: "2026-11-21T14:05:00+00:00"
      })
      const [correlation, causation] = yield* Effect.all([Correlation.correlationId, Correlation.causationId]).pipe(
        EventContext.within(received)
      )
      expect(correlation).toStrictEqual(Option.some("corr_x"))
      expect(causation).toStrictEqual(Option.some("evt-1"))
      expect(yield* Correlation.correlationId).toStrictEqual(Option.none())
    }))

  it("uuid7 puts the milliseconds in the first 48 bits, then version 7 and the RFC variant", () => {
    const ms = 0x0192_f1a2_b3c4
    const id = EventContext.uuid7(ms)
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(id.replace(/-/g, "").slice(0, 12)).toBe("0192f1a2b3c4")
    expect(EventContext.uuid7(0).slice(0, 13)).toBe("00000000-0000")
    expect(EventContext.uuid7(2 ** 48 - 1).slice(0, 13)).toBe("ffffffff-ffff")
  })
})
