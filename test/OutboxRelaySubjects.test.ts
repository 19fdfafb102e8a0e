/**
 * The relay's set of subjects it has published to, and the Bus's caches by subject, are bounded: subjects may carry
 * ids (`evt.order.<id>`), and a long-running relay publishes to as many subjects as there are ids.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type { Bus, EncodedMessage } from "../src/Bus/Bus.js"
import * as SubjectCache from "../src/internal/subjectCache.js"
import { initialState, makeHolds, makePasses, type RelayContext, settingsOf } from "../src/Sql/internal/relayContext.js"
import type { PassHolds } from "../src/Sql/internal/relayHolds.js"
import { makeSender } from "../src/Sql/internal/relayPublish.js"

/** A pass that holds no stream back. */
const noHolds = (): PassHolds => ({ stopped: new Set(), retried: new Map(), after: undefined })

describe("subject caches", () => {
  it("makeRoom empties a cache holding maxSubjects entries, and only then", () => {
    const cache = new Set<string>()
    for (let i = 0; i < SubjectCache.maxSubjects; i++) {
      SubjectCache.makeRoom(cache)
      cache.add(`evt.order.${i}`)
    }
    expect(cache.size).toBe(SubjectCache.maxSubjects)
    SubjectCache.makeRoom(cache)
    expect(cache.size).toBe(0)
  })

  it.effect("the relay's known subjects stay bounded over rows of as many subjects, each row published once", () =>
    Effect.gen(function*() {
      const published: Array<string> = []
      // The Bus side of the relay: each encoded publish acknowledged at once.
      const bus = {
        publishEncoded: (message: EncodedMessage) =>
          Effect.sync(() => {
            published.push(message.subject)
            return {
              eventId: message.eventId ?? "",
              subject: message.subject,
              stream: "ORDER",
              sequence: published.length,
              duplicate: false
            }
          }),
        streamHolding: () => Option.none()
      } as unknown as Bus
      const relay: RelayContext = {
        bus,
        sql: undefined as never,
        settings: settingsOf({ maxInFlight: 8 }),
        state: yield* Ref.make(initialState),
        subjects: new Set(),
        holds: makeHolds(),
        passes: yield* makePasses
      }
      const rows = Array.from({ length: SubjectCache.maxSubjects * 2 + 10 }, (_, i) => ({
        id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
        seq: String(i + 1),
        subject: `evt.order.${i}`,
        stream: null,
        headers: "{}",
        body: "{}",
        attempts: 0
      }))
      const sent = yield* makeSender(relay, noHolds()).send(rows)
      for (const fiber of sent) if (fiber !== undefined) yield* Fiber.await(fiber)
      expect(published).toEqual(rows.map((row) => row.subject))
      expect(relay.subjects.size).toBeLessThanOrEqual(SubjectCache.maxSubjects)
      expect(relay.subjects.has(rows[rows.length - 1]!.subject)).toBe(true)
    }))

  // A Bus whose publishes each take a few turns of the scheduler to be acked, counting how many are in flight at once.
  const slowBus = () => {
    const published: Array<string> = []
    let inFlight = 0
    let most = 0
    const bus = {
      publishEncoded: (message: EncodedMessage) =>
        Effect.suspend(() => {
          published.push(message.subject)
          inFlight++
          most = Math.max(most, inFlight)
          const sequence = published.length
          return Effect.yieldNow().pipe(
            Effect.repeatN(3),
            Effect.map(() => {
              inFlight--
              return {
                eventId: message.eventId ?? "",
                subject: message.subject,
                stream: "ORDER",
                sequence,
                duplicate: false
              }
            })
          )
        }),
      streamHolding: () => Option.none()
    } as unknown as Bus
    return { bus, published, most: () => most }
  }

  const relayOf = (bus: Bus) =>
    Effect.map(Effect.zip(Ref.make(initialState), makePasses), ([state, passes]): RelayContext => ({
      bus,
      sql: undefined as never,
      settings: settingsOf({ maxInFlight: 8 }),
      state,
      subjects: new Set(),
      holds: makeHolds(),
      passes
    }))

  const rowsOf = (stream: string | null) =>
    Array.from({ length: 40 }, (_, i) => ({
      id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
      seq: String(i + 1),
      subject: `evt.order.${i}`,
      stream,
      headers: "{}",
      body: "{}",
      attempts: 0
    }))

  it.effect("rows of subjects carrying ids are pipelined once their named stream has had one, in row order", () =>
    Effect.gen(function*() {
      const { bus, most, published } = slowBus()
      const rows = rowsOf("ORDER")
      const sent = yield* makeSender(yield* relayOf(bus), noHolds()).send(rows)
      for (const fiber of sent) if (fiber !== undefined) yield* Fiber.await(fiber)
      expect(published).toEqual(rows.map((row) => row.subject))
      expect(most()).toBe(8)
    }))

  it.effect("rows of new subjects without a stream named are each sent alone", () =>
    Effect.gen(function*() {
      const { bus, most, published } = slowBus()
      const rows = rowsOf(null)
      const sent = yield* makeSender(yield* relayOf(bus), noHolds()).send(rows)
      for (const fiber of sent) if (fiber !== undefined) yield* Fiber.await(fiber)
      expect(published).toEqual(rows.map((row) => row.subject))
      expect(most()).toBe(1)
    }))
})
