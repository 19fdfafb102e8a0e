/**
 * Publishing the rows of one group: in their order, with at most `maxInFlight` publishes outstanding on the Bus's
 * connection, and nothing new started once one has failed.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import type { PublishAck } from "../../Bus/Bus.js"
import { MessageBusError } from "../../Errors/InfrastructureErrors.js"
import { headersOf, type Row } from "./outboxRows.js"
import type { RelayContext } from "./relayContext.js"

/**
 * What publishing one row came to; `undefined` for a row never sent (a publish before it had failed).
 *
 * @internal
 */
export type Outcome = Either.Either<PublishAck, MessageBusError> | undefined

const publishRow = (relay: RelayContext, row: Row): Effect.Effect<Either.Either<PublishAck, MessageBusError>> =>
  Effect.suspend(() => {
    const headers = headersOf(row.headers)
    return relay.bus.publishEncoded({
      subject: row.subject,
      body: row.body,
      headers,
      msgId: headers["Nats-Msg-Id"] ?? row.id,
      eventId: row.id
    })
  }).pipe(
    // A Bus that dies instead of failing must not take the relay with it.
    Effect.catchAllDefect((defect) =>
      Effect.fail(
        new MessageBusError({
          message: `Publishing failed unexpectedly: ${defect instanceof Error ? defect.message : String(defect)}`,
          details: { operation: "publish", subject: row.subject },
          retryable: true,
          cause: defect
        })
      )
    ),
    Effect.either,
    Effect.tap((outcome) => {
      if (Either.isRight(outcome)) relay.subjects.add(row.subject)
    })
  )

/**
 * Publishes `rows` in order and returns one outcome per row. Row `i` is sent once row `i - maxInFlight` has its
 * outcome, so a publish that fails (or is retried) can be overtaken by at most `maxInFlight - 1` rows behind it;
 * once one has failed no further row is sent, and what is in flight is awaited. The sends leave in row order: each
 * publish is started by its own fiber, forked in row order, and a Bus sends on its first step for a subject it has
 * published to. The first row of a subject this relay has not yet published to (its Bus may first have to make its
 * stream ready, which waits) is sent alone, after the rows before it have their outcomes.
 *
 * @internal
 */
export const publishRows = (relay: RelayContext, rows: ReadonlyArray<Row>): Effect.Effect<Array<Outcome>> =>
  Effect.gen(function*() {
    const window = relay.settings.maxInFlight
    const outcomes: Array<Outcome> = new Array(rows.length).fill(undefined)
    let failed = false
    const inFlight: Array<Fiber.RuntimeFiber<void>> = new Array(rows.length)
    const settle = (i: number) => inFlight[i] === undefined ? Effect.void : Fiber.join(inFlight[i]!)
    const start = (i: number) =>
      Effect.map(publishRow(relay, rows[i]!), (outcome) => {
        outcomes[i] = outcome
        if (Either.isLeft(outcome)) failed = true
      })
    let sent = 0
    while (sent < rows.length && !failed) {
      const i = sent
      const known = relay.subjects.has(rows[i]!.subject)
      for (let j = Math.max(0, i - window); j <= (known ? i - window : i - 1); j++) yield* settle(j)
      if (failed) break
      if (known) inFlight[i] = yield* Effect.fork(start(i))
      else yield* start(i)
      sent++
    }
    for (let j = Math.max(0, sent - window); j < sent; j++) yield* settle(j)
    return outcomes
  })
