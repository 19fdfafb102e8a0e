/**
 * The Bus's `MessageBusError`, built from a message, the operation and what it was on.
 *
 * @internal
 */
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

const maxMessageSizeAnswer = (cause: unknown): boolean =>
  cause instanceof Error && cause.name === "JetStreamApiError" && (cause as { readonly code?: unknown }).code === 10054

// The answer of a sealed stream to a publish (a `JetStreamApiError`, err_code 10109: "invalid operation on sealed
// stream"). A seal is never lifted.
const sealedStreamAnswer = (cause: unknown): boolean =>
  cause instanceof Error && cause.name === "JetStreamApiError" && (cause as { readonly code?: unknown }).code === 10109

/**
 * Whether a publish failed in a way it fails alike however often it is retried, whatever the state of the
 * connection: the message is larger than the server or its stream takes, or its stream is sealed.
 *
 * @internal
 */
export const isRefusedAlways = (error: MessageBusError): boolean =>
  maxPayloadRefusal(error.cause) || maxMessageSizeAnswer(error.cause) || sealedStreamAnswer(error.cause)
