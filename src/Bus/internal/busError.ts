/**
 * The Bus's `MessageBusError`, built from a message, the operation and what it was on.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import { MessageBusError } from "../../Errors/Errors.js"

/** @internal */
export const busError = (
  message: string,
  details: { readonly operation: string; readonly stream?: string | undefined; readonly subject?: string | undefined },
  retryable: boolean,
  cause?: unknown
): MessageBusError =>
  new MessageBusError({
    message,
    details: {
      operation: details.operation,
      ...(details.stream !== undefined ? { stream: details.stream } : {}),
      ...(details.subject !== undefined ? { subject: details.subject } : {})
    },
    retryable,
    ...(cause !== undefined ? { cause } : {})
  })

// The NATS client's refusal, before sending, of a message over the server's `max_payload` (an
// `InvalidArgumentError`: "'payload' max_payload size exceeded"), and the stream's answer to one over its
// `max_msg_size` (a `JetStreamApiError`, err_code 10054). Read by name, not by class: the NATS client is loaded only
// with a JetStream Bus.
const maxPayloadRefusal = (cause: unknown): boolean =>
  cause instanceof Error && cause.name === "InvalidArgumentError" && cause.message.includes("max_payload")

// A JetStream API answer of the given err_code.
const apiAnswer = (cause: unknown, code: number): boolean =>
  cause instanceof Error && cause.name === "JetStreamApiError" && (cause as { readonly code?: unknown }).code === code

const maxMessageSizeAnswer = (cause: unknown): boolean => apiAnswer(cause, 10054)

// The answer of a sealed stream to a publish (a `JetStreamApiError`, err_code 10109: "invalid operation on sealed
// stream"). A seal is never lifted.
const sealedStreamAnswer = (cause: unknown): boolean => apiAnswer(cause, 10109)

/**
 * Whether a publish failed in a way it fails alike however often it is retried, whatever the state of the
 * connection: the message is larger than the server or its stream takes, or its stream is sealed.
 *
 * @internal
 */
export const isRefusedAlways = (error: MessageBusError): boolean =>
  maxPayloadRefusal(error.cause) || maxMessageSizeAnswer(error.cause) || sealedStreamAnswer(error.cause)

// The answers of a stream, an account or a server that holds no more: the stream's limits with `discard: new`
// (err_code 10077, "maximum messages exceeded", "maximum bytes exceeded", "maximum messages per subject exceeded"),
// the account's JetStream storage (10002 "resource limits exceeded for account"), the server's (10047 storage, 10028
// memory, 10023 "insufficient resources").
const fullStoreCodes: ReadonlySet<number> = new Set([10002, 10023, 10028, 10047])

/**
 * Where an answer says the room for a message is lacking: its stream (at its limits, discarding new messages), or
 * the JetStream storage of its account or server; `undefined` for every other answer. Read by name, as above.
 *
 * @internal
 */
export const roomLacking = (cause: unknown): "stream" | "storage" | undefined => {
  if (!(cause instanceof Error) || cause.name !== "JetStreamApiError") return undefined
  const code = (cause as { readonly code?: unknown }).code
  if (code === 10077 && /^maximum .* exceeded$/i.test(cause.message)) return "stream"
  return typeof code === "number" && fullStoreCodes.has(code) ? "storage" : undefined
}

// The errors that say no stream takes the subject of a publish, where no answer of the server is their cause (the
// in-memory Bus, a stream found missing and not made, a subject no declared stream holds).
const noStreamErrors = new WeakSet<MessageBusError>()

/**
 * A publish's `MessageBusError` saying no stream takes its subject, known as such to {@link publishFailureReason}.
 *
 * @internal
 */
export const noStreamError = (
  message: string,
  details: Parameters<typeof busError>[1],
  retryable: boolean
): MessageBusError => {
  const error = busError(message, details, retryable)
  noStreamErrors.add(error)
  return error
}

/**
 * Why a publish failed, as the `reason` label of `bus_messages_publish_failures_total`: a small closed set.
 *
 * @internal
 */
export type PublishFailureReason =
  | "stream_full"
  | "storage_full"
  | "no_stream"
  | "unknown_outcome"
  | "connection_closed"
  | "too_large"
  | "permission_denied"
  | "other"

// The server's answer "stream not found" (err_code 10059).
const streamNotFoundAnswer = (cause: unknown): boolean => apiAnswer(cause, 10059)

const named = (cause: unknown, name: string): boolean => cause instanceof Error && cause.name === name

/**
 * The reason a publish failed with `error`: its stream full (`discard: new` at its limits), the JetStream storage of
 * the account or server full, no stream for its subject, no ack within the retry budget (a timeout, the connection
 * lost before the ack: the message may have been stored), the connection closed, the message too large, a
 * permission refused, or another failure (a sealed stream, a header or subject the Bus refuses).
 *
 * @internal
 */
export const publishFailureReason = (error: MessageBusError): PublishFailureReason => {
  const cause = error.cause
  // An error failed inside a span reaches its handler as a proxy of the error made (`Cause.originalError`).
  if (noStreamErrors.has(Cause.originalError(error)) || streamNotFoundAnswer(cause)) return "no_stream"
  const lacking = roomLacking(cause)
  if (lacking !== undefined) return lacking === "stream" ? "stream_full" : "storage_full"
  if (maxPayloadRefusal(cause) || maxMessageSizeAnswer(cause)) return "too_large"
  if (named(cause, "ClosedConnectionError")) return "connection_closed"
  if (named(cause, "PermissionViolationError")) return "permission_denied"
  return error.retryable && error.details.operation === "publish" ? "unknown_outcome" : "other"
}
