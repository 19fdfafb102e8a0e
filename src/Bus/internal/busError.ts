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
