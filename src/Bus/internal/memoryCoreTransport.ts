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

/** @internal */
export const make = (): CoreTransport => {
  const subscribers = new Set<Subscriber>()
  const turns = new Map<string, number>()

  // Every plain subscriber gets the message; each queue group one of its members, in turn.
  const route = (message: CoreMessage): number => {
    const groups = new Map<string, Array<Subscriber>>()
    let delivered = 0
    for (const sub of [...subscribers]) {
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
      const turn = turns.get(key) ?? 0
      turns.set(key, turn + 1)
      members[turn % members.length]!.onMessage(message)
      delivered++
    }
    return delivered
  }

  return {
    implementation: "memory",
    publish: (subject, data, headers) =>
      Effect.sync(() => {
        route({ subject, data, headers, replyable: false, respond: noReply })
      }),
    subscribe: (filter, queue, onMessage) =>
      Effect.asVoid(Effect.acquireRelease(
        Effect.sync(() => {
          const sub: Subscriber = { filter, queue, onMessage }
          subscribers.add(sub)
          return sub
        }),
        (sub) => Effect.sync(() => subscribers.delete(sub))
      )),
    request: (subject, data, headers, timeout) =>
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
        const delivered = route({ subject, data, headers, replyable: true, respond })
        if (delivered === 0) return Effect.fail<RequestFailure>({ _tag: "NoResponders" })
        return Effect.flatMap(
          Effect.timeout(Deferred.await(reply), timeout).pipe(Effect.option),
          Option.match({
            onNone: () => Effect.fail<RequestFailure>({ _tag: "Timeout" }),
            onSome: Effect.succeed
          })
        )
      })
  }
}
