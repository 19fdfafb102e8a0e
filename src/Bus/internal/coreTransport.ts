/**
 * Core NATS as the typed core Bus needs it: publish, subscribe (with queue groups) and request/reply, without
 * JetStream. The NATS client and the in-memory router both provide it.
 *
 * @internal
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { MessageBusError } from "../../Errors/Errors.js"

/** @internal */
export interface Headers {
  readonly [name: string]: string
}

/** A received core message. @internal */
export interface CoreMessage {
  readonly subject: string
  readonly data: Uint8Array
  readonly headers: Headers
  /** Whether the sender waits for a reply (a request). */
  readonly replyable: boolean
  /** Sends the reply of a request; `false` when the message asked for none or the connection is gone. */
  respond(data: Uint8Array, headers: Headers): boolean
}

/** Why a request got no reply. @internal */
export type RequestFailure =
  | { readonly _tag: "Timeout" }
  | { readonly _tag: "NoResponders" }
  | { readonly _tag: "Failed"; readonly error: MessageBusError }

/** @internal */
export interface CoreTransport {
  readonly implementation: "nats" | "memory"
  /** Sends a message, fire-and-forget (the NATS client buffers it and flushes it). */
  readonly publish: (subject: string, data: Uint8Array, headers: Headers) => Effect.Effect<void, MessageBusError>
  /**
   * Calls `onMessage` for each message on `subject` (a filter, wildcards allowed) while the scope is open. With a
   * `queue`, each message goes to one subscriber of the group. `onEnded` is told why the server ended the
   * subscription (a permissions violation), if it does. Neither callback may throw.
   */
  readonly subscribe: (
    subject: string,
    queue: string | undefined,
    onMessage: (message: CoreMessage) => void,
    onEnded: (reason: string) => void
  ) => Effect.Effect<void, MessageBusError, Scope.Scope>
  /** Sends a request and waits for the first reply, at most `timeout`. */
  readonly request: (
    subject: string,
    data: Uint8Array,
    headers: Headers,
    timeout: Duration.Duration
  ) => Effect.Effect<CoreMessage, RequestFailure>
}
