/**
 * The durable JetStream consumer of a subscription: created when missing, updated (and the change logged) when
 * its settings differ, since the durable is the service's own; refused, and left as it is, when the Bus cannot
 * consume through it.
 *
 * @internal
 */
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerUpdateConfig,
  DeliverPolicy,
  JetStreamApiError,
  type JetStreamManager
} from "@nats-io/jetstream"
import { nanos } from "@nats-io/nats-core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { MessageBusError } from "../../Errors/Errors.js"
import { busError } from "./busError.js"
import type { ConsumerSpec } from "./engine.js"
import { errorMessage, isNotFound } from "./jetStreamFailures.js"
import { filterSubjectsSupported } from "./serverVersion.js"

const showNanos = (n: number | undefined) => n === undefined ? "none" : Duration.format(Duration.nanos(BigInt(n)))

/**
 * The subject filter of a durable, as the server takes it: `filter_subject` for one subject; `filter_subjects` for
 * several where the server has it (2.10 and later); else `filter_subject` on the one filter covering them, the
 * subscriber skipping what the list does not hold.
 *
 * @internal
 */
export type ConsumerFilter = { readonly filter_subject: string } | { readonly filter_subjects: ReadonlyArray<string> }

/** The filter of `spec` on a server of `version` (see {@link ConsumerFilter}). @internal */
export const consumerFilter = (spec: ConsumerSpec, version: string | undefined): ConsumerFilter =>
  spec.filterSubjects.length > 1 && filterSubjectsSupported(version)
    ? { filter_subjects: spec.filterSubjects }
    : { filter_subject: spec.filterSubject }

/** The subjects a filter takes, in order, for comparing and showing. */
const filterList = (filter: {
  readonly filter_subject?: string | undefined
  readonly filter_subjects?: ReadonlyArray<string> | undefined
}): ReadonlyArray<string> =>
  filter.filter_subjects !== undefined && filter.filter_subjects.length > 0
    ? [...filter.filter_subjects].sort()
    : filter.filter_subject === undefined || filter.filter_subject === ""
    ? []
    : [filter.filter_subject]

const showList = (list: ReadonlyArray<string>) => list.length === 0 ? "none" : list.join(", ")

/** How a durable's settings differ from the wanted ones, as `field: existing -> wanted`. @internal */
export const consumerChanges = (
  existing: ConsumerConfig,
  wanted: { readonly ack_wait: number; readonly max_deliver: number; readonly filter: ConsumerFilter }
): ReadonlyArray<string> => {
  const had = filterList(existing)
  const wants = filterList(wanted.filter)
  const field = "filter_subjects" in wanted.filter ? "filter_subjects" : "filter_subject"
  return [
    ...(existing.ack_wait !== wanted.ack_wait
      ? [`ack_wait: ${showNanos(existing.ack_wait)} -> ${showNanos(wanted.ack_wait)}`]
      : []),
    ...(existing.max_deliver !== wanted.max_deliver
      ? [`max_deliver: ${existing.max_deliver} -> ${wanted.max_deliver}`]
      : []),
    ...(had.length !== wants.length || had.some((subject, i) => subject !== wants[i])
      ? [`${field}: ${showList(had)} -> ${showList(wants)}`]
      : [])
  ]
}

/**
 * The filter of an update. The client merges an update into the existing settings, and drops undefined fields when
 * it sends them: the filter field not wanted is set undefined, to clear it.
 *
 * @internal
 */
export const filterUpdate = (filter: ConsumerFilter): Partial<ConsumerUpdateConfig> =>
  ("filter_subjects" in filter
    ? { filter_subject: undefined, filter_subjects: [...filter.filter_subjects] }
    : { filter_subject: filter.filter_subject, filter_subjects: undefined }) as unknown as Partial<
      ConsumerUpdateConfig
    >

/**
 * Why the Bus cannot consume through an existing durable, if it cannot: acks other than explicit (with `none` a
 * failed message is never delivered again, with `all` acking one message acks every earlier one, a failed one among
 * them), or a push consumer (pull requests are refused). NATS changes neither in place, and the Bus never deletes a
 * durable: it is left as it is.
 *
 * @internal
 */
export const consumerRefusal = (
  spec: Pick<ConsumerSpec, "stream" | "durable">,
  existing: Pick<ConsumerConfig, "ack_policy" | "deliver_subject">
): string | undefined => {
  const problem = existing.ack_policy !== AckPolicy.Explicit
    ? `has ack_policy ${existing.ack_policy}, where the Bus acks each message on its own (explicit): a failed ` +
      `message would not be delivered again`
    : existing.deliver_subject !== undefined && existing.deliver_subject !== ""
    ? `is a push consumer (deliver_subject ${existing.deliver_subject}), where the Bus pulls`
    : undefined
  return problem === undefined ? undefined : `Consumer ${spec.durable} on ${spec.stream} exists and ${problem}; NATS ` +
    `cannot change that in place and the Bus never deletes a durable: subscribe under another durable name, or ` +
    `delete this one (nats consumer rm ${spec.stream} ${spec.durable}) once nothing else consumes through it`
}

/** The settings of `spec` that an update may change. */
const wantedOf = (spec: ConsumerSpec) => ({
  ack_wait: nanos(Duration.toMillis(spec.ackWait)),
  max_deliver: spec.maxDeliver
})

/**
 * The settings a durable of `spec` is created with: delivering from the stream's first message, or from stream
 * sequence `start` when given.
 */
const creation = (spec: ConsumerSpec, filter: ConsumerFilter, start: number | undefined): Partial<ConsumerConfig> => ({
  durable_name: spec.durable,
  ack_policy: AckPolicy.Explicit,
  ...(start === undefined
    ? { deliver_policy: DeliverPolicy.All }
    : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start }),
  ...("filter_subjects" in filter
    ? { filter_subjects: [...filter.filter_subjects] }
    : { filter_subject: filter.filter_subject }),
  ...wantedOf(spec)
})

/** Creates or updates the durable; the changes made to an existing one, or why it is refused. */
const reconcile = async (
  jsm: JetStreamManager,
  spec: ConsumerSpec,
  version: string | undefined
): Promise<Either.Either<ReadonlyArray<string>, string>> => {
  const filter = consumerFilter(spec, version)
  const wanted = wantedOf(spec)
  const existing = await jsm.consumers.info(spec.stream, spec.durable).catch((e) =>
    isNotFound(e) ? undefined : Promise.reject(e)
  )
  if (existing === undefined) {
    await jsm.consumers.add(spec.stream, creation(spec, filter, undefined))
    return Either.right([])
  }
  const refused = consumerRefusal(spec, existing.config)
  if (refused !== undefined) return Either.left(refused)
  const changes = consumerChanges(existing.config, { ...wanted, filter })
  if (changes.length > 0) await jsm.consumers.update(spec.stream, spec.durable, { ...wanted, ...filterUpdate(filter) })
  return Either.right(changes)
}

const creationError = (spec: ConsumerSpec) => (e: unknown) =>
  busError(
    `Cannot create consumer ${spec.durable} on ${spec.stream}: ${errorMessage(e)}`,
    { operation: "subscribe", stream: spec.stream, subject: spec.filterSubject },
    !(e instanceof JetStreamApiError),
    e
  )

/**
 * Makes the missing durable of `spec` again, delivering from stream sequence `start`; `false` when a durable of that
 * name exists by then (made meanwhile by another instance, or by someone else): it is left as it is, neither updated
 * nor deleted. The server refuses to create over it (a durable's start cannot change), or, when its settings are
 * those asked for, answers with it unchanged.
 *
 * @internal
 */
export const resumeConsumer = (
  jsm: JetStreamManager,
  spec: ConsumerSpec,
  serverVersion: () => string | undefined,
  start: number
): Effect.Effect<boolean, MessageBusError> =>
  Effect.tryPromise({
    try: async () => {
      const existing = await jsm.consumers.info(spec.stream, spec.durable).catch((e) =>
        isNotFound(e) ? undefined : Promise.reject(e)
      )
      if (existing !== undefined) return false
      return jsm.consumers.add(spec.stream, creation(spec, consumerFilter(spec, serverVersion()), start)).then(
        (made) => made.config.opt_start_seq === start,
        (e) =>
          e instanceof JetStreamApiError
            ? jsm.consumers.info(spec.stream, spec.durable).then(() => false, () => Promise.reject(e))
            : Promise.reject(e)
      )
    },
    catch: creationError(spec)
  })

/**
 * Ensures the durable of `spec` (see `Engine.ensureConsumer`).
 *
 * @internal
 */
export const ensureConsumer = (
  jsm: JetStreamManager,
  spec: ConsumerSpec,
  serverVersion: () => string | undefined
): Effect.Effect<void, MessageBusError> =>
  Effect.tryPromise({
    try: () => reconcile(jsm, spec, serverVersion()),
    catch: creationError(spec)
  }).pipe(Effect.flatMap(Either.match({
    onLeft: (refused) =>
      Effect.fail(
        busError(refused, { operation: "subscribe", stream: spec.stream, subject: spec.filterSubject }, false)
      ),
    onRight: (changes) =>
      changes.length === 0
        ? Effect.void
        : Effect.logInfo(`Bus: consumer ${spec.durable} on ${spec.stream} updated: ${changes.join("; ")}`)
  })))
