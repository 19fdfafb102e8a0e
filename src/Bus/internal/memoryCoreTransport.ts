/**
 * Core NATS in memory: subjects routed with NATS wildcard rules, queue groups served in turn, request/reply with
 * no-responders and timeouts, all within one process. Delivery is immediate and at most once, as on the server.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { subjectMatches } from "../../Events/Streams.js"
import type { CoreMessage, CoreTransport, Headers, RequestFailure } from "./coreTransport.js"

interface Subscriber {
  readonly filter: string
  readonly queue: string | undefined
  readonly onMessage: (message: CoreMessage) => void
}

const noReply = (): boolean => false

interface Router {
  readonly subscribers: Set<Subscriber>
  /** The next member of each queue group (by queue and filter). */
  readonly turns: Map<string, number>
}

// Every plain subscriber gets the message; each queue group one of its members, in turn.
const route = (router: Router, message: CoreMessage): number => {
  const groups = new Map<string, Array<Subscriber>>()
  let delivered = 0
  for (const sub of [...router.subscribers]) {
    if (!subjectMatches(sub.filter, message.subject)) continue
    if (sub.queue === undefined) {
      sub.onMessage(message)
      delivered++
      continue
    }
    const key = `${sub.queue}\u0000${sub.filter}`
    const members = groups.get(key) ?? []
    members.push(sub)
    groups.set(key, members)
  }
  for (const [key, members] of groups) {
    const turn = router.turns.get(key) ?? 0
    router.turns.set(key, turn + 1)
    members[turn % members.length]!.onMessage(message)
    delivered++
  }
  return delivered
}

// The first answer completes the request; no responder fails it at once, no answer in time with a timeout.
const request = (router: Router): CoreTransport["request"] => (subject, data, headers, timeout) =>
  Effect.flatMap(Deferred.make<CoreMessage>(), (reply) => {
    let answered = false
    const respond = (replyData: Uint8Array, replyHeaders: Headers): boolean => {
      if (answered) return false
      answered = true
      Deferred.unsafeDone(
        reply,
        Effect.succeed({
          subject: `_INBOX.${subject}`,
          data: replyData,
          headers: replyHeaders,
          replyable: false,
          respond: noReply
        })
      )
      return true
    }
    const delivered = route(router, { subject, data, headers, replyable: true, respond })
    if (delivered === 0) return Effect.fail<RequestFailure>({ _tag: "NoResponders" })
    return Effect.flatMap(
      Effect.timeout(Deferred.await(reply), timeout).pipe(Effect.option),
      Option.match({
        onNone: () => Effect.fail<RequestFailure>({ _tag: "Timeout" }),
        onSome: Effect.succeed
      })
    )
  })

/** @internal */
export const make = (): CoreTransport => {
  const router: Router = { subscribers: new Set(), turns: new Map() }
  return {
    implementation: "memory",
    publish: (subject, data, headers) =>
      Effect.sync(() => {
        route(router, { subject, data, headers, replyable: false, respond: noReply })
      }),
    subscribe: (filter, queue, onMessage) =>
      Effect.asVoid(Effect.acquireRelease(
        Effect.sync(() => {
          const sub: Subscriber = { filter, queue, onMessage }
          router.subscribers.add(sub)
          return sub
        }),
        (sub) => Effect.sync(() => router.subscribers.delete(sub))
      )),
    request: request(router)
  }
}
