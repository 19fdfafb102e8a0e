/**
 * What the in-memory engine holds: its streams (messages, last sequence, duplicate window), its durable consumers
 * (cursor and pending deliveries), the pulls waiting for a message, and the max-deliveries advisory listeners.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Queue from "effect/Queue"
import * as Streams from "../../Events/Streams.js"
import { busError } from "./busError.js"
import * as DeadLetter from "./deadLetterRecord.js"
import type { ConsumerSpec, MaxDeliveriesAdvisory, StoredMessage } from "./engine.js"

/** @internal */
export interface MemStream {
  readonly definition: Streams.StreamDefinition
  readonly messages: Map<number, StoredMessage>
  last: number
  readonly dedup: Map<string, { readonly sequence: number; readonly at: number }>
}

/** A delivered message not yet acknowledged: how often it was delivered, and when it is due again. @internal */
export interface Pending {
  deliveries: number
  due: number
}

/** @internal */
export interface MemConsumer {
  spec: ConsumerSpec
  cursor: number
  readonly pending: Map<number, Pending>
}

/** @internal */
export interface MemoryState {
  /** The duplicate window, in milliseconds. */
  readonly window: number
  readonly streams: Map<string, MemStream>
  /** By `consumerKey`. */
  readonly consumers: Map<string, MemConsumer>
  /** Pulls waiting for a message (a publish, or a nak that makes one due). */
  readonly waiters: Set<Deferred.Deferred<void>>
  readonly advisories: Set<Queue.Queue<MaxDeliveriesAdvisory>>
}

/** Adds a stream unless one of its name exists. @internal */
export const addStream = (state: MemoryState, definition: Streams.StreamDefinition): void => {
  if (!state.streams.has(definition.name)) {
    state.streams.set(definition.name, { definition, messages: new Map(), last: 0, dedup: new Map() })
  }
}

/** The state of an engine holding `streams` and the dead-letter stream. @internal */
export const make = (options: {
  readonly streams: ReadonlyArray<Streams.StreamDefinition>
  readonly duplicateWindow: Duration.DurationInput
}): MemoryState => {
  const state: MemoryState = {
    window: Duration.toMillis(Duration.decode(options.duplicateWindow)),
    streams: new Map(),
    consumers: new Map(),
    waiters: new Set(),
    advisories: new Set()
  }
  for (const definition of [...options.streams, DeadLetter.stream]) addStream(state, definition)
  return state
}

/** Wakes every waiting pull. @internal */
export const wake = (state: MemoryState): void => {
  for (const waiter of state.waiters) Deferred.unsafeDone(waiter, Effect.void)
  state.waiters.clear()
}

/** The stream holding a subject, if one does. @internal */
export const streamOf = (state: MemoryState, subject: string): MemStream | undefined => {
  for (const stream of state.streams.values()) {
    if (Streams.holds(stream.definition, subject)) return stream
  }
  return undefined
}

/** @internal */
export const consumerKey = (stream: string, durable: string): string => `${stream}/${durable}`

/** Whether a consumer takes a subject: one of its filters matches it, as JetStream's `filter_subjects`. @internal */
export const takes = (spec: ConsumerSpec, subject: string): boolean =>
  spec.filterSubjects.some((filter) => Streams.subjectMatches(filter, subject))

/** @internal */
export const notFound = (operation: string, stream: string, subject?: string) =>
  busError(`Stream ${stream} does not exist`, { operation, stream, subject }, false)
