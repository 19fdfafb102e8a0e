/**
 * The small handler type the subscriber's policies are written over, and how a service's handler and middleware
 * become one.
 *
 * @internal
 */
import type * as Effect from "effect/Effect"
import type { Handler, HandlerMiddleware, ReceivedEvent } from "../Bus.js"
import type { RawMessage } from "./engine.js"

/** A decoded message in hand: its delivery and its event. @internal */
export interface InFlight<A> {
  readonly msg: RawMessage
  readonly event: ReceivedEvent<A>
}

/** Handles a message in hand. @internal */
export type MessageHandler<A, E, R> = (inFlight: InFlight<A>) => Effect.Effect<unknown, E, R>

/**
 * A service's handler wrapped in its middleware, the first of the list outermost (it sees the event first and the
 * result last), as a {@link MessageHandler}.
 *
 * @internal
 */
export const ofHandler = <A, E, R>(
  handler: Handler<A, E, R>,
  middleware: ReadonlyArray<HandlerMiddleware<unknown, unknown>> | undefined
): MessageHandler<A, unknown, R> => {
  let composed: Handler<A, unknown, unknown> = handler
  if (middleware !== undefined) { for (let i = middleware.length - 1; i >= 0; i--) composed = middleware[i]!(composed) }
  // What the middleware require is in the context the subscription was started with, as the handler's `R` is.
  const run = composed as Handler<A, unknown, R>
  return (inFlight) => run(inFlight.event)
}
