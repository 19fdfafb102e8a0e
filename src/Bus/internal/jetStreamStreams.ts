/**
 * Ensuring JetStream streams: a missing stream created with the configured settings, an existing one whose
 * settings differ left as it is (and reported), or updated where NATS allows when updating was asked for. Nothing
 * is ever deleted.
 *
 * @internal
 */
import { JetStreamApiError, type JetStreamManager, type StreamConfig, type StreamInfo } from "@nats-io/jetstream"
import { nanos } from "@nats-io/nats-core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { MessageBusError } from "../../Errors/Errors.js"
import type * as Streams from "../../Events/Streams.js"
import type { StreamLimits } from "../BusConfig.js"
import type { EnsureOptions, StreamReport } from "../JetStreamSetup.js"
import * as DeadLetter from "./deadLetterRecord.js"
import type { StreamPresence } from "./engine.js"
import { isStreamNotFound } from "./jetStreamFailures.js"

/** The settings NATS refuses to change on an existing stream. @internal */
export const immutableFields: ReadonlyArray<string> = ["storage", "retention"]

/** The settings of `DLQ` (see `JetStreamSetup.deadLetterLimits`). @internal */
export const deadLetterLimits = (limits: StreamLimits): StreamLimits => ({ ...limits, maxMsgsPerSubject: -1 })

/** The stream configuration wanted for a definition under the limits. @internal */
export const desiredConfig = (definition: Streams.StreamDefinition, limits: StreamLimits): Partial<StreamConfig> => ({
  name: definition.name,
  subjects: [...definition.subjects],
  ...(definition.description !== undefined ? { description: definition.description } : {}),
  retention: limits.retention,
  storage: limits.storage,
  max_age: nanos(Duration.toMillis(limits.maxAge)),
  max_msgs_per_subject: limits.maxMsgsPerSubject,
  max_msgs: limits.maxMsgs,
  max_bytes: limits.maxBytes,
  duplicate_window: nanos(Duration.toMillis(limits.duplicateWindow)),
  num_replicas: limits.replicas,
  allow_rollup_hdrs: true
})

const compared: ReadonlyArray<keyof StreamConfig> = [
  "subjects",
  "retention",
  "storage",
  "max_age",
  "max_msgs_per_subject",
  "max_msgs",
  "max_bytes",
  "duplicate_window",
  "num_replicas",
  "allow_rollup_hdrs"
]

/** Fields where zero or a negative number means "no limit". */
const limitFields: ReadonlySet<keyof StreamConfig> = new Set([
  "max_age",
  "max_msgs_per_subject",
  "max_msgs",
  "max_bytes"
])
/** Fields in nanoseconds. */
const durationFields: ReadonlySet<keyof StreamConfig> = new Set(["max_age", "duplicate_window"])

const normalize = (field: keyof StreamConfig, value: unknown): unknown => {
  if (limitFields.has(field) && (value === undefined || (typeof value === "number" && value <= 0))) return "unlimited"
  if (field === "allow_rollup_hdrs") return value === true
  return Array.isArray(value) ? [...value].sort() : value
}

const show = (field: keyof StreamConfig, value: unknown): string => {
  const normalized = normalize(field, value)
  if (durationFields.has(field) && typeof normalized === "number") {
    return Duration.format(Duration.nanos(BigInt(normalized)))
  }
  if (Array.isArray(normalized)) return `[${normalized.join(", ")}]`
  return String(normalized)
}

const same = (field: keyof StreamConfig, a: unknown, b: unknown): boolean => {
  const x = normalize(field, a)
  const y = normalize(field, b)
  return Array.isArray(x) && Array.isArray(y)
    ? x.length === y.length && x.every((item, i) => item === y[i])
    : x === y
}

/** The differences between an existing configuration and the wanted one (see `JetStreamSetup.diff`). @internal */
export const diff = (existing: Partial<StreamConfig>, wanted: Partial<StreamConfig>): Array<string> =>
  compared.filter((field) => wanted[field] !== undefined && !same(field, existing[field], wanted[field])).map((
    field
  ) => `${field}: ${show(field, existing[field])} -> ${show(field, wanted[field])}`)

// The answer to creating a stream whose name is taken (err_code 10058): it was made meanwhile, by someone else.
const isNameInUse = (e: unknown) =>
  e instanceof JetStreamApiError && (e.code === 10058 || /already in use/i.test(e.message))

const errorText = (e: unknown) => e instanceof Error ? e.message : String(e)

const streamError = (message: string, stream: string, retryable: boolean, cause?: unknown) =>
  new MessageBusError({
    message,
    details: { operation: "ensure_stream", stream },
    retryable,
    ...(cause !== undefined ? { cause } : {})
  })

// The answer to creating a stream some of whose subjects another stream of the account holds (err_code 10065).
const isSubjectOverlap = (e: unknown) =>
  e instanceof JetStreamApiError && (e.code === 10065 || /subjects overlap/i.test(e.message))

/**
 * What holds the subjects of `definition` when creating it overlapped another stream: `stream X holds s` for each
 * subject the server names a stream for, and how to declare that stream instead; empty when none is found.
 */
const overlapOwners = async (jsm: JetStreamManager, definition: Streams.StreamDefinition): Promise<string> => {
  const owners = await Promise.all(definition.subjects.map(async (subject) => {
    const names = await jsm.streams.names(subject).next().catch(() => [] as Array<string>)
    return names.filter((name) => name !== definition.name).map((name) => ({ name, subject }))
  }))
  const found = owners.flat()
  if (found.length === 0) return ""
  const first = found[0]!.name
  return `: ${found.map((o) => `stream ${o.name} holds ${o.subject}`).join(", ")}; declare that stream instead ` +
    `(Streams.make("${first}", { subjects: [...] }), its subjects as the server has them), or choose subjects no ` +
    "stream holds"
}

const create = (
  jsm: JetStreamManager,
  definition: Streams.StreamDefinition,
  wanted: Partial<StreamConfig>
): Effect.Effect<StreamReport, MessageBusError> =>
  Effect.tryPromise({ try: () => jsm.streams.add({ ...wanted, name: definition.name }), catch: (e) => e }).pipe(
    Effect.catchAll((e) =>
      Effect.flatMap(
        isSubjectOverlap(e) ? Effect.promise(() => overlapOwners(jsm, definition)) : Effect.succeed(""),
        (owners) =>
          Effect.fail(streamError(
            `Cannot create stream ${definition.name} (${definition.subjects.join(", ")}): ${errorText(e)}${owners}`,
            definition.name,
            false,
            e
          ))
      )
    ),
    Effect.as({ stream: definition.name, action: "created", changes: [] } satisfies StreamReport)
  )

/** Updates what NATS allows to change; a conflict when it refuses, or when an immutable setting differs. */
const update = (
  jsm: JetStreamManager,
  name: string,
  info: StreamInfo,
  wanted: Partial<StreamConfig>,
  changes: ReadonlyArray<string>
): Effect.Effect<StreamReport> =>
  Effect.gen(function*() {
    const blocked = changes.filter((c) => immutableFields.some((f) => c.startsWith(`${f}:`)))
    const mutable: Partial<StreamConfig> = { ...info.config }
    for (const field of compared) {
      if (!immutableFields.includes(field) && wanted[field] !== undefined) {
        ;(mutable as Record<string, unknown>)[field] = wanted[field]
      }
    }
    const updated = yield* Effect.either(Effect.tryPromise({
      try: () => jsm.streams.update(name, mutable),
      catch: errorText
    }))
    if (updated._tag === "Left" || blocked.length > 0) {
      const problem = updated._tag === "Left"
        ? `NATS refused the update: ${updated.left}`
        : `NATS cannot change ${blocked.join("; ")} of an existing stream (the rest was updated); ` +
          `migrate it by hand, the Bus never deletes a stream`
      return { stream: name, action: "conflict", changes, problem } satisfies StreamReport
    }
    return { stream: name, action: "updated", changes } satisfies StreamReport
  })

const limitsOf = (definition: Streams.StreamDefinition, options: EnsureOptions): StreamLimits =>
  definition.name === DeadLetter.stream.name
    ? options.deadLetterLimits ?? deadLetterLimits(options.limits)
    : options.limits

/**
 * Looks a stream up and creates it, as `ensureStream` would, only when the server answers that it does not exist
 * (see `Engine.remakeStream`). A stream found is never compared nor updated. In a cluster only the meta leader
 * answers "not found", and it refuses to create a stream that exists (`isNameInUse`): a stream between leaders or
 * recovering is not made twice.
 *
 * @internal
 */
export const remakeStream = (
  jsm: JetStreamManager,
  definition: Streams.StreamDefinition,
  options: EnsureOptions,
  create: boolean
): Effect.Effect<StreamPresence, MessageBusError> =>
  Effect.tryPromise({
    try: () =>
      jsm.streams.info(definition.name).then(() => "present" as const, (e) =>
        isStreamNotFound(e) ? "missing" as const : Promise.reject(e)),
    catch: (e) =>
      streamError(`Cannot read stream ${definition.name}: ${errorText(e)}`, definition.name, true, e)
  }).pipe(
    Effect.flatMap((found): Effect.Effect<StreamPresence, MessageBusError> =>
      found === "present" || !create ? Effect.succeed(found) : Effect.tryPromise({
        try: () =>
          jsm.streams.add({ ...desiredConfig(definition, limitsOf(definition, options)), name: definition.name }).then(
            () => "remade" as const,
            (e) => isNameInUse(e) ? "present" as const : Promise.reject(e)
          ),
        catch: (e) =>
          streamError(
            `Cannot create stream ${definition.name} (${definition.subjects.join(", ")}): ${errorText(e)}`,
            definition.name,
            true,
            e
          )
      })
    ),
    Effect.withSpan("Bus.remakeStream", { attributes: { "messaging.destination.name": definition.name } })
  )

const reconcile = (
  jsm: JetStreamManager,
  definition: Streams.StreamDefinition,
  limits: StreamLimits,
  updating: boolean
): Effect.Effect<StreamReport, MessageBusError> =>
  Effect.gen(function*() {
    const wanted = desiredConfig(definition, limits)
    const info = yield* Effect.tryPromise({
      try: () =>
        jsm.streams.info(definition.name).then((i) => i, (e) => (isStreamNotFound(e) ? undefined : Promise.reject(e))),
      catch: (e) => streamError(`Cannot read stream ${definition.name}: ${errorText(e)}`, definition.name, true, e)
    })
    if (info === undefined) return yield* create(jsm, definition, wanted)
    const changes = diff(info.config, wanted)
    if (changes.length === 0) return { stream: definition.name, action: "unchanged", changes } satisfies StreamReport
    if (!updating) return { stream: definition.name, action: "differs", changes } satisfies StreamReport
    return yield* update(jsm, definition.name, info, wanted, changes)
  })

const logReport = (report: StreamReport): Effect.Effect<void> => {
  const changes = report.changes.join("; ")
  switch (report.action) {
    case "created":
      return Effect.logInfo(`Bus: stream ${report.stream} created`)
    case "differs":
      return Effect.logWarning(
        `Bus: stream ${report.stream} exists with other settings and is left as it is ` +
          `(nats.update_streams: true updates it): ${changes}`
      )
    case "updated":
      return Effect.logInfo(`Bus: stream ${report.stream} updated: ${changes}`)
    case "conflict":
      return Effect.logError(`Bus: stream ${report.stream} differs from its definition: ${changes}; ${report.problem}`)
    case "unchanged":
      return Effect.logInfo(`Bus: stream ${report.stream} already there, as defined`)
  }
}

/** Ensures one stream and logs what it did (see `JetStreamSetup.ensureStream`). @internal */
export const ensureStream = (
  jsm: JetStreamManager,
  definition: Streams.StreamDefinition,
  options: EnsureOptions
): Effect.Effect<StreamReport, MessageBusError> =>
  reconcile(jsm, definition, limitsOf(definition, options), options.update ?? false).pipe(
    Effect.tap(logReport),
    Effect.withSpan("Bus.ensureStream", { attributes: { "messaging.destination.name": definition.name } })
  )

/** Ensures every stream in turn. @internal */
export const ensureStreams = (
  jsm: JetStreamManager,
  definitions: ReadonlyArray<Streams.StreamDefinition>,
  options: EnsureOptions
): Effect.Effect<ReadonlyArray<StreamReport>, MessageBusError> =>
  Effect.forEach(definitions, (definition) => ensureStream(jsm, definition, options))
