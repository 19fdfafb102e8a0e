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

// MQTT 5 reason codes of a PUBACK or PUBREC that no retry changes: the broker refuses this client, topic or payload
// (Not authorized, Topic Name invalid, Packet too large, Payload format invalid, Retain or QoS not supported).
const publishRefusalCodes = new Set([0x87, 0x90, 0x95, 0x99, 0x9A, 0x9B])

/**
 * The MQTT 5 reason code with which the broker refused a publish (MQTT.js fails the publish with it as `code`), or
 * `undefined`.
 */
export const publishReasonCode = (e: unknown): number | undefined =>
  typeof e === "object" && e !== null && "code" in e && typeof e.code === "number" && e.code >= 0x80
    ? e.code
    : undefined

/** Whether a retry of a publish the broker refused with this reason code may succeed. */
export const publishRetryable = (reasonCode: number): boolean => !publishRefusalCodes.has(reasonCode)

/** Builds the `MqttError` of an operation on a broker. */
export type Fail = (
  text: string,
  details: { readonly operation: string; readonly topic?: string; readonly reason_code?: number },
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
