/**
 * Core NATS on a NATS connection: `publish`, `subscribe` (queue groups) and `request` of the official client.
 *
 * @internal
 */
import {
  headers as natsHeaders,
  InvalidArgumentError,
  InvalidSubjectError,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  NoRespondersError,
  RequestError,
  TimeoutError
} from "@nats-io/nats-core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { MessageBusError } from "../../Errors/Errors.js"
import type { CoreMessage, CoreTransport, Headers, RequestFailure } from "./coreTransport.js"
import { toHeaders } from "./natsHeaders.js"

const fromHeaders = (headers: Headers): MsgHdrs | undefined => {
  let out: MsgHdrs | undefined
  for (const name in headers) {
    out ??= natsHeaders()
    out.set(name, headers[name]!)
  }
  return out
}

const reason = (e: unknown): string => (e instanceof Error ? e.message : String(e))

// What the client refuses before sending (a message over the server's max_payload, a subject it cannot send on)
// fails alike however often it is retried.
const refusedAsGiven = (e: unknown): boolean => e instanceof InvalidArgumentError || e instanceof InvalidSubjectError

const failure = (operation: string, subject: string, e: unknown): MessageBusError =>
  new MessageBusError({
    message: `Core NATS ${operation} on ${subject} failed: ${reason(e)}`,
    details: { operation, subject },
    retryable: !refusedAsGiven(e),
    cause: e
  })

const messageOf = (msg: Msg): CoreMessage => ({
  subject: msg.subject,
  data: msg.data,
  headers: toHeaders(msg.headers),
  replyable: typeof msg.reply === "string" && msg.reply !== "",
  respond: (data, headers) => {
    const h = fromHeaders(headers)
    return msg.respond(data, h === undefined ? undefined : { headers: h })
  }
})

const requestFailure = (subject: string, e: unknown): RequestFailure => {
  if (e instanceof NoRespondersError) return { _tag: "NoResponders" }
  if (e instanceof TimeoutError) return { _tag: "Timeout" }
  if (e instanceof RequestError) {
    if (e.isNoResponders()) return { _tag: "NoResponders" }
    if (e.cause instanceof TimeoutError) return { _tag: "Timeout" }
  }
  return { _tag: "Failed", error: failure("request", subject, e) }
}

/** @internal */
export const make = (nc: NatsConnection): CoreTransport => ({
  implementation: "nats",
  publish: (subject, data, headers) =>
    Effect.try({
      try: () => {
        const h = fromHeaders(headers)
        nc.publish(subject, data, h === undefined ? undefined : { headers: h })
      },
      catch: (e) => failure("publish", subject, e)
    }),
  subscribe: (subject, queue, onMessage, onEnded) =>
    Effect.asVoid(Effect.acquireRelease(
      Effect.try({
        try: () =>
          nc.subscribe(subject, {
            ...(queue !== undefined ? { queue } : {}),
            callback: (error, msg) => {
              if (error === null) onMessage(messageOf(msg))
              else onEnded(reason(error))
            }
          }),
        catch: (e) => failure("subscribe", subject, e)
      }),
      (sub) => Effect.sync(() => sub.unsubscribe())
    )),
  request: (subject, data, headers, timeout) =>
    Effect.async<Msg, RequestFailure>((resume) => {
      // `nc.request` keeps its entry in the client's request map until its own timer fires, which an interrupted
      // requester would leave behind for up to its whole timeout. `requestMany` of one message is the client's
      // request with a handle: stopping its iterator removes the entry at once (`RequestMany.cancel`).
      let replies: Stoppable | undefined
      let interrupted = false
      const h = fromHeaders(headers)
      nc.requestMany(subject, data, {
        strategy: "count",
        maxMessages: 1,
        maxWait: Math.max(1, Duration.toMillis(timeout)),
        ...(h !== undefined ? { headers: h } : {})
      }).then(async (iterable) => {
        replies = stoppable(iterable)
        if (interrupted) return replies.stop()
        for await (const msg of iterable) return resume(Effect.succeed(msg))
        resume(Effect.fail({ _tag: "Timeout" }))
      }).catch((e: unknown) => resume(Effect.fail(requestFailure(subject, e))))
      return Effect.sync(() => {
        interrupted = true
        replies?.stop()
      })
    }).pipe(Effect.map(messageOf))
})

interface Stoppable {
  readonly stop: () => void
}

// The connection's `requestMany` resolves to the client's `QueuedIterator`, typed as a bare `AsyncIterable` on the
// `NatsConnection` interface; without `stop` (another client), ending is left to the request's own timer.
const stoppable = (iterable: AsyncIterable<Msg>): Stoppable => {
  const stop: unknown = (iterable as Partial<Stoppable>).stop
  return typeof stop === "function" ? { stop: () => stop.call(iterable) } : { stop: () => undefined }
}
