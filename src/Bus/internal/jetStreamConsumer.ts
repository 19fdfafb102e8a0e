/**
 * The durable JetStream consumer of a subscription: created when missing, updated (and the change logged) when
 * its settings differ, since the durable is the service's own.
 *
 * @internal
 */
import { AckPolicy, DeliverPolicy, JetStreamApiError, type JetStreamManager } from "@nats-io/jetstream"
import { nanos } from "@nats-io/nats-core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { MessageBusError } from "../../Errors/Errors.js"
import * as core from "./core.js"
import type { ConsumerSpec } from "./engine.js"
import { errorMessage, isNotFound } from "./jetStreamFailures.js"

const showNanos = (n: number | undefined) => n === undefined ? "none" : Duration.format(Duration.nanos(BigInt(n)))

/** How a durable's settings differ from the wanted ones, as `field: existing -> wanted`. */
const consumerChanges = (
  existing: { readonly ack_wait?: number; readonly max_deliver?: number; readonly filter_subject?: string },
  wanted: { readonly ack_wait: number; readonly max_deliver: number; readonly filter_subject: string }
): ReadonlyArray<string> => [
  ...(existing.ack_wait !== wanted.ack_wait
    ? [`ack_wait: ${showNanos(existing.ack_wait)} -> ${showNanos(wanted.ack_wait)}`]
    : []),
  ...(existing.max_deliver !== wanted.max_deliver
    ? [`max_deliver: ${existing.max_deliver} -> ${wanted.max_deliver}`]
    : []),
  ...(existing.filter_subject !== wanted.filter_subject
    ? [`filter_subject: ${existing.filter_subject ?? "none"} -> ${wanted.filter_subject}`]
    : [])
]

/** Creates or updates the durable; the changes made to an existing one. */
const reconcile = async (jsm: JetStreamManager, spec: ConsumerSpec): Promise<ReadonlyArray<string>> => {
  const wanted = {
    durable_name: spec.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: spec.filterSubject,
    ack_wait: nanos(Duration.toMillis(spec.ackWait)),
    max_deliver: spec.maxDeliver
  }
  const existing = await jsm.consumers.info(spec.stream, spec.durable).catch((e) =>
    isNotFound(e) ? undefined : Promise.reject(e)
  )
  if (existing === undefined) {
    await jsm.consumers.add(spec.stream, wanted)
    return []
  }
  const changes = consumerChanges(existing.config, wanted)
  if (changes.length > 0) {
    await jsm.consumers.update(spec.stream, spec.durable, {
      ack_wait: wanted.ack_wait,
      max_deliver: wanted.max_deliver,
      filter_subject: wanted.filter_subject
    })
  }
  return changes
}

/**
 * Ensures the durable of `spec` (see `Engine.ensureConsumer`).
 *
 * @internal
 */
export const ensureConsumer = (jsm: JetStreamManager, spec: ConsumerSpec): Effect.Effect<void, MessageBusError> =>
  Effect.tryPromise({
    try: () => reconcile(jsm, spec),
    catch: (e) =>
      core.busError(
        `Cannot create consumer ${spec.durable} on ${spec.stream}: ${errorMessage(e)}`,
        { operation: "subscribe", stream: spec.stream, subject: spec.filterSubject },
        !(e instanceof JetStreamApiError),
        e
      )
  }).pipe(Effect.flatMap((changes) =>
    changes.length === 0
      ? Effect.void
      : Effect.logInfo(`Bus: consumer ${spec.durable} on ${spec.stream} updated: ${changes.join("; ")}`)
  ))
