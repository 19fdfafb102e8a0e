/**
 * The JetStream engine's publish requests (`Bus/internal/jetStreamPublish`) on the real NATS: every answer a
 * stream, the server or a stray responder can give becomes the ack or the failure the client's own publish gives,
 * classified by `publishFailure` as before (definite or unknown outcome).
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { jetstreamManager } from "@nats-io/jetstream"
import { headers, type NatsConnection } from "@nats-io/nats-core"
import { connect } from "@nats-io/transport-node"
import { publishFailure } from "../src/Bus/internal/jetStreamFailures.js"
import * as PublishRequests from "../src/Bus/internal/jetStreamPublish.js"
import { serviceAvailable, services } from "./support/services.js"

const natsUp = await serviceAvailable("nats")
const url = `nats://${services.nats.host}:${services.nats.port}`
const run = `${process.pid}${Date.now().toString(36)}`
const stream = `PUBREQ_${run}`
const subject = (name: string) => `pubreq${run}.${name}`

interface Settled {
  readonly error: unknown
  readonly ack: PublishRequests.StoredAck | undefined
}

/** Sends one publish and waits for its outcome. */
const publish = (
  requests: PublishRequests.PublishRequests,
  to: string,
  options: { readonly msgId?: string; readonly header?: readonly [string, string]; readonly timeout?: number } = {}
): Promise<Settled> =>
  new Promise((resolve, reject) => {
    const h = headers()
    h.set("Nats-Msg-Id", options.msgId ?? crypto.randomUUID())
    if (options.header !== undefined) h.set(options.header[0], options.header[1])
    try {
      requests.send(to, new TextEncoder().encode("{}"), h, options.timeout ?? 5000, (error, ack) =>
        resolve({ error, ack }))
    } catch (e) {
      reject(e)
    }
  })

/** A core subscriber on `to` that answers each request with `reply` (or never, when undefined). */
const responder = async (nc: NatsConnection, to: string, reply: string | undefined) => {
  const sub = nc.subscribe(to, {
    callback: (_error, msg) => {
      if (reply !== undefined) msg.respond(new TextEncoder().encode(reply))
    }
  })
  await nc.flush()
  return sub
}

describe.skipIf(!natsUp)("JetStream publish requests", () => {
  let nc: NatsConnection
  let requests: PublishRequests.PublishRequests

  beforeAll(async () => {
    nc = await connect({ servers: url })
    const jsm = await jetstreamManager(nc)
    await jsm.streams.add({ name: stream, subjects: [`pubreq${run}.stored.>`], duplicate_window: 60_000_000_000 })
    requests = PublishRequests.make(nc)
  })

  afterAll(async () => {
    const jsm = await jetstreamManager(nc)
    await jsm.streams.delete(stream).catch(() => undefined)
    await nc.close()
  })

  it("a stored message gives the stream's ack; the same message id again is a duplicate", async () => {
    const msgId = crypto.randomUUID()
    const first = await publish(requests, subject("stored.a"), { msgId })
    expect(first.error).toBeUndefined()
    expect(first.ack).toEqual({ stream, seq: expect.any(Number), duplicate: false })
    const again = await publish(requests, subject("stored.a"), { msgId })
    expect(again.ack).toEqual({ stream, seq: first.ack!.seq, duplicate: true })
  })

  it("a stream's refusal is a JetStream API error: a definite failure, nothing stored", async () => {
    const refused = await publish(requests, subject("stored.b"), { header: ["Nats-Expected-Stream", "ELSEWHERE"] })
    expect(refused.ack).toBeUndefined()
    expect(refused.error).toMatchObject({ name: "JetStreamApiError" })
    const failure = publishFailure(refused.error, subject("stored.b"))
    expect(failure.unknownOutcome).toBe(false)
    expect(failure.error.message).toMatch(/expected stream does not match/i)
  })

  it("no stream on the subject (no responders) leaves the outcome unknown", async () => {
    const nobody = await publish(requests, subject("nobody"))
    expect(nobody.error).toMatchObject({ name: "NoResponders" })
    expect(publishFailure(nobody.error, subject("nobody")).unknownOutcome).toBe(true)
  })

  it("an answer that is not an ack, or none within the timeout, leaves the outcome unknown", async () => {
    const subs = [
      await responder(nc, subject("notjson"), "not json"),
      await responder(nc, subject("empty"), "{}"),
      await responder(nc, subject("badError"), "{\"error\":{\"code\":\"x\"}}"),
      await responder(nc, subject("silent"), undefined)
    ]
    const notJson = await publish(requests, subject("notjson"))
    const empty = await publish(requests, subject("empty"))
    const badError = await publish(requests, subject("badError"))
    const silent = await publish(requests, subject("silent"), { timeout: 200 })
    expect(String(notJson.error)).toMatch(/invalid ack response: not JSON/)
    expect(String(empty.error)).toMatch(/invalid ack response/)
    expect(String(badError.error)).toMatch(/invalid ack response: malformed error/)
    expect(silent.error).toMatchObject({ name: "TimeoutError" })
    for (const settled of [notJson, empty, badError, silent]) {
      expect(settled.ack).toBeUndefined()
      expect(publishFailure(settled.error, "x").unknownOutcome).toBe(true)
    }
    for (const sub of subs) sub.unsubscribe()
  })

  it("a forgotten publish never reports, even when its answer arrives", async () => {
    let reported = 0
    const answered = new Promise<void>((resolve) => {
      const sub = nc.subscribe(subject("late"), {
        callback: (_error, msg) => {
          // The publish is forgotten before this answer is sent; a second publish, answered too, shows the
          // answers arrive.
          msg.respond(new TextEncoder().encode(JSON.stringify({ stream: "S", seq: 1 })))
          if (msg.headers?.get("Nats-Msg-Id") === "second") {
            sub.unsubscribe()
            resolve()
          }
        }
      })
    })
    await nc.flush()
    const h = headers()
    h.set("Nats-Msg-Id", "first")
    const forget = requests.send(subject("late"), new Uint8Array(), h, 5000, () => reported++)
    forget()
    const second = await publish(requests, subject("late"), { msgId: "second" })
    await answered
    expect(second.ack).toEqual({ stream: "S", seq: 1, duplicate: false })
    expect(reported).toBe(0)
  })

  it("a publish waiting when the connection closes fails as closed (definite); one sent after it throws", async () => {
    const own = await connect({ servers: url })
    const ownRequests = PublishRequests.make(own)
    const silent = await responder(nc, subject("closing"), undefined)
    const waiting = publish(ownRequests, subject("closing"))
    await own.flush()
    await own.close()
    const closed = await waiting
    expect(closed.error).toMatchObject({ name: "ClosedConnectionError" })
    expect(publishFailure(closed.error, subject("closing")).unknownOutcome).toBe(false)
    await expect(publish(ownRequests, subject("closing"))).rejects.toMatchObject({ name: "ClosedConnectionError" })
    // A closed connection cannot take the inbox's subscription: the engine maps this throw to a MessageBusError.
    expect(() => PublishRequests.make(own)).toThrow(/closed/i)
    silent.unsubscribe()
  })
})
