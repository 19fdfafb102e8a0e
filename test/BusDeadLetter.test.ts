/**
 * The dead-letter record codec (property-tested), the ack decision table of the subscriber runtime, and when a term
 * carries its reason.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Exit, FiberId } from "effect"
import * as fc from "fast-check"
import { DeadLetter } from "../src/Bus/index.js"
import * as ServerVersion from "../src/Bus/internal/serverVersion.js"
import * as Verdict from "../src/Bus/internal/verdict.js"
import { MessageBusError, NotFoundError } from "../src/Errors/index.js"
import { isSecretHeaderName } from "../src/internal/credentials.js"

describe("DeadLetter record", () => {
  it("omitBody: the record holds no body and says so, apart from an empty body; cut to size without it", () => {
    const letter = {
      subject: "evt.clinic.appointment_scheduled",
      stream: "CLINIC",
      streamSequence: 41,
      consumer: "reminders",
      deliveryCount: 3,
      headers: { "Nats-Msg-Id": "e-1" },
      body: new TextEncoder().encode(JSON.stringify({ payload: { patient_id: "p-7731904" } })),
      error: { tag: "NotFoundError", code: "NOT_FOUND", message: "gone", details: {} },
      deadLetteredAt: "2026-11-22T04:00:00.000Z",
      service: "clinic-service"
    }
    const omitted = DeadLetter.encode(letter, { omitBody: true })
    const text = new TextDecoder().decode(omitted)
    expect(text).not.toContain("p-7731904")
    const record = JSON.parse(text)
    expect(record.body).toBeUndefined()
    expect(record.body_text).toBeUndefined()
    expect(record.body_omitted).toBe(true)
    expect(record.stream_sequence).toBe(41)
    const decoded = DeadLetter.decode(9, omitted)!
    expect(decoded.bodyOmitted).toBe(true)
    expect(decoded.body).toEqual(new Uint8Array(0))
    // An empty body is kept as one.
    const empty = DeadLetter.decode(9, DeadLetter.encode({ ...letter, body: new Uint8Array(0) }))!
    expect(JSON.parse(new TextDecoder().decode(DeadLetter.encode({ ...letter, body: new Uint8Array(0) }))).body)
      .toBe("")
    expect(empty.bodyOmitted).toBeUndefined()
    // A record without a body that does not say it left it out is not a record.
    const { body: _, ...bodiless } = JSON.parse(new TextDecoder().decode(DeadLetter.encode(letter)))
    expect(DeadLetter.decode(9, new TextEncoder().encode(JSON.stringify(bodiless)))).toBeUndefined()
    // Too large even without the body: the headers and the error's details go, as for a record with one.
    const big = DeadLetter.encode({ ...letter, headers: { "X-Blob": "x".repeat(4000) } }, {
      omitBody: true,
      maxBytes: 2048
    })
    expect(big.length).toBeLessThanOrEqual(2048)
    expect(DeadLetter.decode(9, big)).toMatchObject({ bodyOmitted: true, headersTruncated: true, headers: {} })
  })

  it("keeps the original body byte for byte and the headers, error and delivery facts", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 512 }),
        fc.dictionary(
          fc.oneof(
            fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,19}$/),
            fc.constantFrom("Authorization", "X-Auth-Token", "x-api-key", "Idempotency-Key", "X-Session-Id")
          ),
          fc.string({ maxLength: 40 })
        ),
        fc.nat(),
        fc.integer({ min: 1, max: 100 }),
        (body, headers, sequence, deliveryCount) => {
          const letter = {
            subject: "evt.catalog.sync_started",
            stream: "CATALOG",
            streamSequence: sequence,
            consumer: "catalog-worker",
            deliveryCount,
            headers,
            body,
            error: { tag: "NotFoundError", code: "NOT_FOUND", message: "gone", details: { resource: "item" } },
            deadLetteredAt: "2026-11-22T04:00:00.000Z",
            service: "catalog-service"
          }
          const decoded = DeadLetter.decode(7, DeadLetter.encode(letter))
          // Credential headers are named, their values left out.
          const redacted = Object.keys(headers).filter((name) => isSecretHeaderName(name))
          const kept = Object.fromEntries(Object.entries(headers).filter(([name]) => !redacted.includes(name)))
          expect(decoded).toEqual({
            ...letter,
            headers: kept,
            ...(redacted.length > 0 ? { headersRedacted: redacted } : {}),
            dlqSequence: 7,
            body: new Uint8Array(body)
          })
        }
      )
    )
  })

  it("leaves out the values of credential headers, naming them, and keeps the others", () => {
    const bytes = DeadLetter.encode({
      subject: "evt.catalog.sync_started",
      stream: "CATALOG",
      streamSequence: 3,
      consumer: "catalog-worker",
      deliveryCount: 1,
      headers: {
        "Nats-Msg-Id": "m-3",
        "Idempotency-Key": "idem-3",
        "Cookie": "sid=cookie-secret-value",
        "X-Amz-Security-Token": "amz-secret-value",
        "x_api_key": "api-secret-value"
      },
      body: new Uint8Array([123, 125]),
      error: { tag: "NotFoundError", code: "NOT_FOUND", message: "gone", details: {} },
      deadLetteredAt: "2026-11-22T04:00:00.000Z",
      service: "catalog-service"
    })
    const text = new TextDecoder().decode(bytes)
    expect(text).not.toMatch(/secret-value/)
    const decoded = DeadLetter.decode(1, bytes)!
    expect(decoded.headers).toEqual({ "Nats-Msg-Id": "m-3", "Idempotency-Key": "idem-3" })
    expect(decoded.headersRedacted).toEqual(["Cookie", "X-Amz-Security-Token", "x_api_key"])
  })

  it("hides the keys that are secrets and keeps the keys a message is routed or deduplicated by", () => {
    const secrets = {
      "x-goog-api-key": "goog-secret-value",
      "access_key": "access-secret-value",
      "Ocp-Apim-Subscription-Key": "azure-secret-value",
      "x-functions-key": "functions-secret-value",
      "Private-Key": "private-secret-value",
      "key": "bare-secret-value",
      "X-Key": "x-secret-value",
      "x-vendor-key": "vendor-secret-value",
      "x-auth-token": "token-secret-value",
      "Message-Key": "message-secret-value",
      "x-hash-key": "hash-secret-value",
      "Primary-Key": "primary-secret-value"
    }
    const plain = {
      "partition-key": "tenant-7",
      "X-Partition-Key": "tenant-8",
      "routing_key": "eu-west",
      "Cache-Key": "items:7",
      "sort-key": "2026-11-22",
      "Shard-Key": "shard-3",
      "Idempotency-Key": "idem-4"
    }
    const bytes = DeadLetter.encode({
      subject: "evt.catalog.sync_started",
      stream: "CATALOG",
      streamSequence: 4,
      consumer: "catalog-worker",
      deliveryCount: 1,
      headers: { ...secrets, ...plain },
      body: new Uint8Array([123, 125]),
      error: { tag: "NotFoundError", code: "NOT_FOUND", message: "gone", details: {} },
      deadLetteredAt: "2026-11-22T04:00:00.000Z",
      service: "catalog-service"
    })
    expect(new TextDecoder().decode(bytes)).not.toMatch(/secret-value/)
    const decoded = DeadLetter.decode(1, bytes)!
    expect(decoded.headers).toEqual(plain)
    expect(decoded.headersRedacted).toEqual(Object.keys(secrets))
  })

  it("is written whatever the error details hold: a bigint as its digits, details that are not JSON replaced", () => {
    const letter = (details: { readonly [key: string]: unknown }) => ({
      subject: "evt.catalog.sync_started",
      stream: "CATALOG",
      streamSequence: 1,
      consumer: "catalog-worker",
      deliveryCount: 1,
      headers: {},
      body: new Uint8Array([1]),
      error: { tag: "ValidationError", code: "VALIDATION_ERROR", message: "bad", details },
      deadLetteredAt: "2026-11-22T04:00:00.000Z",
      service: "catalog-service"
    })
    const big = DeadLetter.decode(1, DeadLetter.encode(letter({ id: 12345678901234567890n })))
    expect(big?.error.details).toEqual({ id: "12345678901234567890" })
    const cycle: { [key: string]: unknown } = { field: "x" }
    cycle["self"] = cycle
    const cyclic = DeadLetter.decode(2, DeadLetter.encode(letter(cycle)))
    expect(cyclic?.error.message).toBe("bad")
    expect(String(cyclic?.error.details["unwritable"])).toMatch(/cannot be written as JSON/)
  })

  it("stays within maxBytes: body_text left out first, then the body cut to a prefix and marked truncated", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 4096 }),
        fc.integer({ min: 600, max: 8192 }),
        (body, max) => {
          const letter = {
            subject: "evt.catalog.sync_started",
            stream: "CATALOG",
            streamSequence: 42,
            consumer: "catalog-worker",
            deliveryCount: 1,
            headers: { "Nats-Msg-Id": "m-1" },
            body,
            error: { tag: "NotFoundError", code: "NOT_FOUND", message: "gone", details: {} },
            deadLetteredAt: "2026-11-22T04:00:00.000Z",
            service: "catalog-service"
          }
          const data = DeadLetter.encode(letter, { maxBytes: max })
          expect(data.length).toBeLessThanOrEqual(max)
          const decoded = DeadLetter.decode(1, data)!
          expect(decoded.stream).toBe("CATALOG")
          expect(decoded.streamSequence).toBe(42)
          expect(Buffer.from(body.subarray(0, decoded.body.length)).equals(Buffer.from(decoded.body))).toBe(true)
          expect(decoded.bodyTruncated === true).toBe(decoded.body.length < body.length)
          if (DeadLetter.encode(letter).length <= max) expect(data).toEqual(DeadLetter.encode(letter))
        }
      )
    )
  })

  it("stays within maxBytes when the headers or the error alone are too large: both left out, the body kept if it fits", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 512 }),
        fc.integer({ min: 0, max: 6000 }),
        fc.integer({ min: 0, max: 20_000 }),
        fc.integer({ min: 2048, max: 8192 }),
        (body, headerSize, messageSize, max) => {
          const letter = {
            subject: "evt.catalog.sync_started",
            stream: "CATALOG",
            streamSequence: 42,
            consumer: "catalog-worker",
            deliveryCount: 1,
            // JSON writes each `"` as two characters.
            headers: { "Nats-Msg-Id": "m-1", "X-Blob": "\"".repeat(headerSize) },
            body,
            error: { tag: "Error", code: "INTERNAL_ERROR", message: "m".repeat(messageSize), details: { n: 1 } },
            deadLetteredAt: "2026-11-22T04:00:00.000Z",
            service: "catalog-service"
          }
          const data = DeadLetter.encode(letter, { maxBytes: max })
          expect(data.length).toBeLessThanOrEqual(max)
          const decoded = DeadLetter.decode(1, data)!
          expect([decoded.stream, decoded.streamSequence, decoded.subject]).toEqual(["CATALOG", 42, letter.subject])
          const slim = decoded.headersTruncated === true
          expect(decoded.errorTruncated === true).toBe(slim)
          if (slim) {
            expect(decoded.headers).toEqual({})
            expect(decoded.error.details).toEqual({})
            expect(decoded.error.message.startsWith("m".repeat(Math.min(messageSize, 1024)))).toBe(true)
            expect(decoded.error.message.length).toBeLessThan(1100)
          } else {
            expect(decoded.headers).toEqual(letter.headers)
            expect(decoded.error).toEqual(letter.error)
          }
          // Left out only when the record would not fit without its body (give or take the few bytes of
          // `body_text` and `body_truncated`).
          const withoutBody = DeadLetter.encode({ ...letter, body: new Uint8Array() }).length
          if (slim) expect(withoutBody + 64).toBeGreaterThan(max)
          if (withoutBody > max + 64) expect(slim).toBe(true)
          expect(decoded.bodyTruncated === true).toBe(decoded.body.length < body.length)
          expect(Buffer.from(body.subarray(0, decoded.body.length)).equals(Buffer.from(decoded.body))).toBe(true)
        }
      )
    )
  })

  it("is undefined for a body that is not a record", () => {
    expect(DeadLetter.decode(1, new TextEncoder().encode("{\"nope\":1}"))).toBeUndefined()
    expect(DeadLetter.decode(1, new Uint8Array([0xff, 0xfe]))).toBeUndefined()
  })

  it("names the error of a catalogue error with its code and wire details", () => {
    expect(DeadLetter.errorOf(new NotFoundError({ message: "no item", details: { resource: "item" } }))).toMatchObject({
      tag: "NotFoundError",
      code: "NOT_FOUND",
      message: "no item",
      details: { resource: "item" }
    })
  })
})

describe("the ack verdict by error type", () => {
  const spec = { maxDeliver: 3, backoff: [Duration.seconds(1), Duration.seconds(5)] }

  it("acks a success", () => {
    expect(Verdict.verdictOf(Exit.void, 1, spec)).toEqual({ _tag: "Ack" })
  })

  it("naks a retryable error with the backoff of this delivery, the last value repeating", () => {
    const exit = Exit.fail(new MessageBusError({ message: "busy", retryable: true }))
    expect(Verdict.verdictOf(exit, 1, spec)).toMatchObject({ _tag: "Nak", delay: Duration.seconds(1) })
    expect(Verdict.verdictOf(exit, 2, spec)).toMatchObject({ _tag: "Nak", delay: Duration.seconds(5) })
  })

  it("naks a defect", () => {
    expect(Verdict.verdictOf(Exit.die(new Error("boom")), 1, spec)).toMatchObject({ _tag: "Nak" })
  })

  it("dead-letters a non-retryable error at once", () => {
    const verdict = Verdict.verdictOf(Exit.fail(new NotFoundError({})), 1, spec)
    expect(verdict).toMatchObject({ _tag: "DeadLetter", error: { tag: "NotFoundError", code: "NOT_FOUND" } })
  })

  it("dead-letters the last allowed delivery of a retryable failure or a defect", () => {
    expect(Verdict.verdictOf(Exit.fail(new MessageBusError({ retryable: true })), 3, spec)).toMatchObject({
      _tag: "DeadLetter",
      error: { details: { last_attempt: true, max_deliver: 3 } }
    })
    expect(Verdict.verdictOf(Exit.die(new Error("boom")), 3, spec)).toMatchObject({
      _tag: "DeadLetter",
      error: { tag: "Defect", message: "boom" }
    })
  })

  it("dead-letters a message whose decoding threw, naming the error and the stage", () => {
    const verdict = Verdict.undecodable(new RangeError("Maximum call stack size exceeded"))
    expect(verdict).toEqual({
      _tag: "DeadLetter",
      error: {
        tag: "Defect",
        code: "INTERNAL_ERROR",
        message: "Decoding the message threw RangeError: Maximum call stack size exceeded",
        details: { stage: "decode" }
      }
    })
  })

  it("naks an interrupted handler at once (shutdown)", () => {
    expect(Verdict.verdictOf(Exit.interrupt(FiberId.none), 1, spec)).toMatchObject({
      _tag: "Nak",
      delay: Duration.zero
    })
  })
})

describe("the reason of a term", () => {
  it("is sent to nats-server 2.10.4 and later only (an older server ignores the whole +TERM <reason>)", () => {
    for (const version of ["2.10.4", "2.10.14", "2.11.0", "3.0.0", "v2.12.1", "2.10.4-RC.1"]) {
      expect(ServerVersion.termTakesReason(version)).toBe(true)
    }
    for (const version of ["2.9.10", "2.10.3", "2.9.25", "1.99.99", "", "unknown", undefined]) {
      expect(ServerVersion.termTakesReason(version)).toBe(false)
    }
  })
})
