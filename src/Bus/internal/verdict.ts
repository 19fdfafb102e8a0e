/**
 * The ack verdict by error type: what a handler's exit (decoding included) leads to.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { isRetryable } from "../../Errors/ErrorMapping.js"
import type { DeadLetterError } from "../Bus.js"
import * as DeadLetterRecord from "./deadLetterRecord.js"
import type { ConsumerSpec } from "./engine.js"
import { backoffFor } from "./subscriberOptions.js"

/**
 * The verdict on a message: `DeadLetter` is to be written, `DeadLettered` was written (the message is termed).
 *
 * @internal
 */
export type Verdict =
  | { readonly _tag: "Ack" }
  | {
    readonly _tag: "Nak"
    readonly delay: Duration.Duration
    readonly reason: string
    /** Interrupted at shutdown: given back with the engine's release delay instead. */
    readonly released?: true
  }
  | { readonly _tag: "DeadLetter"; readonly error: DeadLetterError }
  | { readonly _tag: "DeadLettered"; readonly error: DeadLetterError }

/** @internal */
export const ack: Verdict = { _tag: "Ack" }

/**
 * Success acks; a retryable error (`isRetryable`) or a defect naks with the backoff of this delivery; a
 * non-retryable error, or any failure of the last allowed delivery, is a dead letter; an interruption naks at once.
 *
 * @internal
 */
export const verdictOf = (
  exit: Exit.Exit<unknown, unknown>,
  deliveryCount: number,
  spec: Pick<ConsumerSpec, "maxDeliver" | "backoff">
): Verdict => {
  if (Exit.isSuccess(exit)) return ack
  const cause = exit.cause
  if (Cause.isInterruptedOnly(cause)) {
    return { _tag: "Nak", delay: Duration.zero, reason: "interrupted", released: true }
  }
  const failure = Cause.failureOption(cause)
  const error: unknown = Option.isSome(failure) ? failure.value : Cause.squash(cause)
  const retryable = Option.isNone(failure) || isRetryable(error)
  const letter = Option.isSome(failure) ? DeadLetterRecord.errorOf(error) : {
    ...DeadLetterRecord.errorOf(error),
    tag: "Defect",
    code: "INTERNAL_ERROR"
  }
  if (!retryable) return { _tag: "DeadLetter", error: letter }
  if (deliveryCount >= spec.maxDeliver) {
    return {
      _tag: "DeadLetter",
      error: { ...letter, details: { ...letter.details, max_deliver: spec.maxDeliver, last_attempt: true } }
    }
  }
  return { _tag: "Nak", delay: backoffFor(spec.backoff, deliveryCount), reason: letter.message }
}

/**
 * The verdict for a message whose decoding threw (or died) instead of failing with a `ValidationError`: a dead
 * letter, since no retry decodes the same body with the same code.
 *
 * @internal
 */
export const undecodable = (defect: unknown): Verdict => {
  const name = defect instanceof Error ? defect.name : DeadLetterRecord.errorOf(defect).tag
  return {
    _tag: "DeadLetter",
    error: {
      tag: "Defect",
      code: "INTERNAL_ERROR",
      message: `Decoding the message threw ${name}: ${DeadLetterRecord.errorOf(defect).message}`,
      details: { stage: "decode" }
    }
  }
}
