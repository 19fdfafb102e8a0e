/**
 * The hand-off between a subscription's pump and its workers: a bounded buffer of pulled messages.
 *
 * Not an Effect `Queue`: the JetStream pump is plain async code (the client's message iterator) that hands each
 * message over synchronously and waits for room through a callback. A worker takes synchronously whenever the
 * buffer has messages; only a worker that finds it empty parks (an `Effect.async` whose resume callback the next
 * offer calls), and only a producer that finds it full waits (a callback the next take calls).
 *
 * Each offer wakes one parked worker, and a worker that takes a message and leaves others behind wakes another:
 * every buffered message has a worker on its way while any is idle (handler concurrency is kept). A worker woken
 * for a message another one took first finds the buffer empty and parks again; nothing counts wake-ups, so an
 * interrupted wake-up cannot leave the others asleep.
 *
 * A message stays in the buffer until a worker takes it: a woken worker that is interrupted before it runs loses
 * nothing, and whatever is still buffered when the subscription stops is there for it to give back.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type { MessageSink, RawMessage } from "./engine.js"

/** @internal */
export interface MessageBuffer extends MessageSink {
  /** Takes the oldest buffered message, if any (then wakes a producer waiting for room). */
  readonly poll: () => RawMessage | undefined
  /** Waits until a message may be there to `poll`, or the buffer closed. */
  readonly awaitMessage: Effect.Effect<void>
  /** Closes the buffer and returns what it still held. */
  readonly close: () => ReadonlyArray<RawMessage>
}

/** A bounded buffer holding at most `capacity` messages. @internal */
export const make = (capacity: number): MessageBuffer => {
  let buffer: Array<RawMessage> = []
  let closed = false
  const parked: Array<(resume: Effect.Effect<void>) => void> = []
  let spaceWaiter: (() => void) | undefined

  const notifySpace = () => {
    const waiter = spaceWaiter
    if (waiter === undefined) return
    spaceWaiter = undefined
    waiter()
  }
  const wakeOne = () => {
    const resume = parked.shift()
    if (resume !== undefined) resume(Effect.void)
  }

  const awaitMessage = Effect.async<void>((resume) => {
    if (closed || buffer.length > 0) return resume(Effect.void)
    parked.push(resume)
    return Effect.sync(() => {
      const i = parked.indexOf(resume)
      if (i >= 0) parked.splice(i, 1)
    })
  })

  return {
    offer: (message) => {
      if (closed || buffer.length >= capacity) return false
      buffer.push(message)
      wakeOne()
      return true
    },
    onSpace: (f) => {
      if (closed || buffer.length < capacity) {
        f()
        return () => undefined
      }
      spaceWaiter = f
      return () => {
        if (spaceWaiter === f) spaceWaiter = undefined
      }
    },
    poll: () => {
      const message = buffer.shift()
      if (message === undefined) return undefined
      notifySpace()
      if (buffer.length > 0) wakeOne()
      return message
    },
    awaitMessage,
    isClosed: () => closed,
    close: () => {
      closed = true
      const held = buffer
      buffer = []
      for (const resume of parked.splice(0)) resume(Effect.void)
      notifySpace()
      return held
    }
  }
}
