/**
 * The hand-off between a subscription's pump and its workers: a bounded buffer of pulled messages.
 *
 * Not an Effect `Queue`: the JetStream pump is plain code (the callback of its inbox subscription) that hands each
 * message over synchronously, reads the room it has to size its pull requests and is told of every take (`onTake`),
 * and a worker that takes synchronously while the buffer has messages spends less CPU per consumed message than one
 * on `Queue.take` (BENCHMARKS.md, "Standard pieces"). Only a worker that finds the buffer empty parks (an
 * `Effect.async` whose resume callback the next offer calls).
 *
 * Offers wake one parked worker at the end of the macrotask they were made in (`setImmediate`), not one per offer:
 * the JetStream pump hands over the messages of a socket read one after another, and a worker woken per message ran
 * one message per wake-up (the wake-up, a fiber resumed through the scheduler, cost more CPU than the message;
 * BENCHMARKS.md, bus-consume). A worker that takes a message and leaves others behind wakes another, so
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
  /**
   * Extends the ack wait (`working`) of every message waiting here for a worker, of those its producer holds for
   * want of room (`hold`), and of the one last refused for want of room (its producer holds it until there is);
   * returns what the client threw.
   */
  readonly working: () => ReadonlyArray<unknown>
}

/** The workers parked on an empty buffer, each waiting for a message to be offered or the buffer to close. */
const makeParking = (ready: () => boolean) => {
  const parked: Array<(resume: Effect.Effect<void>) => void> = []
  return {
    awaitReady: Effect.async<void>((resume) => {
      if (ready()) return resume(Effect.void)
      parked.push(resume)
      return Effect.sync(() => {
        const i = parked.indexOf(resume)
        if (i >= 0) parked.splice(i, 1)
      })
    }),
    wakeOne: () => {
      const resume = parked.shift()
      if (resume !== undefined) resume(Effect.void)
    },
    wakeAll: () => {
      for (const resume of parked.splice(0)) resume(Effect.void)
    }
  }
}

/** The producer's wait for room: one waiter at a time (a buffer has one producer). */
const makeSpaceWait = (hasRoom: () => boolean) => {
  let waiter: (() => void) | undefined
  return {
    onSpace: (f: () => void): () => void => {
      if (hasRoom()) {
        f()
        return () => undefined
      }
      waiter = f
      return () => {
        if (waiter === f) waiter = undefined
      }
    },
    notify: () => {
      const f = waiter
      if (f === undefined) return
      waiter = undefined
      f()
    }
  }
}

/** A bounded buffer holding at most `capacity` messages. @internal */
export const make = (capacity: number): MessageBuffer => {
  let buffer: Array<RawMessage> = []
  let closed = false
  // The message the producer holds while it waits for room: also waiting for a worker, so also kept from its ack wait.
  let refused: RawMessage | undefined
  // More of them, when the producer keeps a list (`hold`).
  let held: ReadonlyArray<RawMessage> = []
  const parking = makeParking(() => closed || buffer.length > 0)
  const space = makeSpaceWait(() => closed || buffer.length < capacity)
  let taken: (() => void) | undefined
  let wakeScheduled = false
  const wakeAfterOffers = () => {
    wakeScheduled = false
    parking.wakeOne()
  }
  return {
    offer: (message) => {
      if (closed) return false
      if (buffer.length >= capacity) {
        refused = message
        return false
      }
      if (refused === message) refused = undefined
      buffer.push(message)
      if (!wakeScheduled) {
        wakeScheduled = true
        setImmediate(wakeAfterOffers)
      }
      return true
    },
    onSpace: space.onSpace,
    poll: () => {
      const message = buffer.shift()
      if (message === undefined) return undefined
      space.notify()
      if (taken !== undefined) taken()
      if (buffer.length > 0) parking.wakeOne()
      return message
    },
    room: () => (closed ? 0 : capacity - buffer.length),
    onTake: (f) => {
      taken = f
      return () => {
        if (taken === f) taken = undefined
      }
    },
    hold: (list) => {
      held = list
      return () => {
        if (held === list) held = []
      }
    },
    awaitMessage: parking.awaitReady,
    isClosed: () => closed,
    close: () => {
      closed = true
      refused = undefined
      const held = buffer
      buffer = []
      parking.wakeAll()
      space.notify()
      return held
    },
    working: () => {
      const failed: Array<unknown> = []
      const extend = (message: RawMessage) => {
        try {
          message.working()
        } catch (defect) {
          failed.push(defect)
        }
      }
      for (const message of buffer) extend(message)
      if (closed) return failed
      for (const message of held) extend(message)
      if (refused !== undefined && !held.includes(refused)) extend(refused)
      return failed
    }
  }
}
