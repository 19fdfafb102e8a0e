/**
 * The check of headers before they are sent: NATS header names are printable ASCII without `:`, and values cannot
 * hold a line break.
 *
 * @internal
 */
import type { MessageBusError } from "../../Errors/Errors.js"
import { busError } from "./busError.js"

/**
 * The refusal of headers that cannot go on the wire, if they cannot (the client would refuse them before sending;
 * both Buses refuse them here alike, before anything is sent, and not as a retryable failure).
 *
 * @internal
 */
export const headerRefusal = (
  subject: string,
  headers: { readonly [name: string]: string }
): MessageBusError | undefined => {
  for (const name in headers) {
    const reason = name.length === 0 || !/^[\x21-\x39\x3b-\x7e]+$/.test(name)
      ? `header name ${JSON.stringify(name)} is not printable ASCII without ":"`
      : /[\r\n]/.test(headers[name]!)
      ? `header ${name} has a line break in its value`
      : undefined
    if (reason !== undefined) {
      return busError(`Publish to ${subject} refused: ${reason}`, { operation: "publish", subject }, false)
    }
  }
  return undefined
}
