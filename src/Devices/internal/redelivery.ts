/**
 * The redelivery of a QoS 1 or 2 message whose handler failed retryably or ran out of time (the Bus or the database
 * down). MQTT 3.1.1 has no negative acknowledgement, and MQTT 5's PUBACK reason codes ask for no resend: a broker
 * sends an unacknowledged message again only in the next connection of a persistent session. So the message is not
 * acknowledged, the client ends its connection, and MQTT.js connects again after a backoff (1 second, doubling up to
 * 30 seconds over the outage's redeliveries; MQTT.js's reconnect period is set to it until the next connection). The
 * broker then delivers the message again, and the ones behind it, in order; meanwhile the rest wait in the session's
 * queue at the broker. An outage is logged once as a warning when it starts, and once when a message is handled again.
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type { Connection } from "./connection.js"

/** The pause before each reconnection of an outage: 1 second, doubling, at most 30 seconds. */
export const backoff = Schedule.exponential("1 second").pipe(Schedule.union(Schedule.spaced("30 seconds")))

/** The pause before the `attempt`-th reconnection of an outage (from 1). */
const pauseOf = (attempt: number): Effect.Effect<Duration.Duration> =>
  Schedule.run(Schedule.delays(backoff), 0, Array.from({ length: Math.max(1, attempt) }, () => undefined)).pipe(
    Effect.map((delays) => Option.getOrElse(Chunk.last(delays), () => Duration.seconds(30)))
  )

/** MQTT.js's reconnect period as configured (`mqtt.reconnect_period`, at least 1 ms, as `connectOptions` gives it). */
export const configuredPeriod = (connection: Connection): number =>
  Math.max(1, Duration.toMillis(connection.options.reconnectPeriod))

/**
 * Whether a message whose handler gave up on it retryably can be delivered again: a QoS 1 or 2 message of a
 * persistent session. A QoS 0 message has no acknowledgement, and a clean session starts empty on reconnection.
 */
export const possible = (clean: boolean, qos: number): boolean => qos > 0 && !clean

/**
 * Called when a message was left unacknowledged so that it is delivered again: no other message is handled until
 * the next connection (`pausing`, set before the message's callback), and the connection is ended, to be made again
 * after the outage's next pause.
 */
export const start = (connection: Connection, reason: string): Effect.Effect<void> =>
  Effect.gen(function*() {
    const { broker, client, state } = connection
    const redelivery = state.redelivery
    redelivery.attempts++
    const pause = yield* pauseOf(redelivery.attempts)
    const text = `Devices: ${reason}; not acknowledged: the MQTT client reconnects to ${broker} in ${
      Duration.format(pause)
    } so the broker delivers it again (redelivery ${redelivery.attempts}; the messages behind it wait at the broker)`
    yield* redelivery.attempts === 1 ? Effect.logWarning(text) : Effect.logDebug(text)
    if (state.closing) return
    client.options.reconnectPeriod = Math.max(Duration.toMillis(pause), configuredPeriod(connection))
    client.stream.destroy()
  })

/** Called when a message was handled after redeliveries: the outage is over, and its backoff starts afresh. */
export const end = (connection: Connection): Effect.Effect<void> =>
  Effect.suspend(() => {
    const redelivery = connection.state.redelivery
    const attempts = redelivery.attempts
    if (attempts === 0) return Effect.void
    redelivery.attempts = 0
    return Effect.logInfo(`Devices: MQTT messages are handled again, after ${attempts} redeliveries`)
  })
