/**
 * What the MQTT client's failures say: messages without credentials, the broker's refusals, a handler's failure in
 * one line, and the `MqttError` of an operation.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import { redactUrlCredentials } from "../../Config/internal/names.js"
import { isGlamError } from "../../Errors/GlamError.js"
import { MqttError } from "./errors.js"

/** The text of a failure, URL credentials hidden. */
export const message = (e: unknown): string => redactUrlCredentials(e instanceof Error ? e.message : String(e))

// CONNACK return codes that no retry changes: the broker refuses this client.
const refusalCodes = new Set([1, 2, 4, 5, 128, 130, 131, 132, 133, 134, 135, 138, 140])

/** Whether the broker refused the client (no retry changes it). */
export const isRefusal = (e: unknown): boolean =>
  typeof e === "object" && e !== null && "code" in e && typeof e.code === "number" && refusalCodes.has(e.code)

/** What a failure says without its internals: the catalogue's code and message, else the text. */
export const describeFailure = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some") {
    const error = failure.value
    if (isGlamError(error)) return `${error.code}: ${error.message}`
    if (Cause.isTimeoutException(error)) return "the handler timed out"
    return message(error)
  }
  return Cause.isDie(cause) ? `defect: ${message(Cause.squash(cause))}` : "interrupted"
}

/** Builds the `MqttError` of an operation on a broker. */
export type Fail = (
  text: string,
  details: { readonly operation: string; readonly topic?: string },
  retryable?: boolean,
  cause?: unknown
) => MqttError

/** The `MqttError`s of a client of `broker` (its URL, credentials hidden). */
export const failWith = (broker: string): Fail => (text, details, retryable = true, cause) =>
  new MqttError({
    message: redactUrlCredentials(text),
    details: { ...details, broker },
    retryable,
    ...(cause === undefined ? {} : { cause })
  })
