/**
 * The streams a service uses, and how they are ensured.
 *
 * A service may use the platform's streams, its own streams (declared in code or in `nats.streams`), and `DLQ`;
 * a definition on any other stream is refused with a message naming it and how to declare its stream. Its own
 * streams, the streams of the definitions it declares, and `DLQ` are ensured at startup; a platform stream when it
 * is first used.
 *
 * Ensuring a JetStream stream creates it with the configured settings when it is missing, and leaves an existing
 * one as it is, logging how its settings differ, unless updating was asked for (`nats.update_streams`): then it
 * updates what NATS allows to change and reports (never deletes) a stream whose settings cannot be changed in place.
 *
 * @since 0.1.0
 */
import type { JetStreamManager, StreamConfig } from "@nats-io/jetstream"
import { nanos } from "@nats-io/nats-core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { MessageBusError } from "../Errors/Errors.js"
import type * as EventDefinition from "../Events/Events.js"
import * as Streams from "../Events/Streams.js"
import type { StreamLimits } from "./BusConfig.js"
import * as DeadLetter from "./DeadLetter.js"

/**
 * What happened to one stream: `differs` is an existing stream left as it is although its settings differ,
 * `conflict` one that could not be updated (wholly or in part) when updating was asked for.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamReport {
  readonly stream: string
  readonly action: "created" | "updated" | "unchanged" | "differs" | "conflict"
  /** The settings that differed (`field: existing -> wanted`). */
  readonly changes: ReadonlyArray<string>
  /** Why a conflict could not be resolved in place. */
  readonly problem?: string | undefined
}

/**
 * Options of {@link ensureStream} and {@link ensureStreams}.
 *
 * @since 0.1.0
 * @category models
 */
export interface EnsureOptions {
  /** The settings of the streams. */
  readonly limits: StreamLimits
  /** The settings of `DLQ` (default: {@link deadLetterLimits} of `limits`). */
  readonly deadLetterLimits?: StreamLimits | undefined
  /** Whether an existing stream whose settings differ is updated where NATS allows (default `false`). */
  readonly update?: boolean | undefined
}

/**
 * The settings NATS refuses to change on an existing stream.
 *
 * @since 0.1.0
 * @category models
 */
export const immutableFields: ReadonlyArray<string> = ["storage", "retention"]

/**
 * The settings of `DLQ`: the stream settings without a per-subject limit, since one subject
 * (`dlq.<stream>.<consumer>`) holds every dead letter of a consumer and none may be dropped to make room.
 *
 * @since 0.1.0
 * @category constructors
 */
export const deadLetterLimits = (limits: StreamLimits): StreamLimits => ({ ...limits, maxMsgsPerSubject: -1 })

/**
 * The stream configuration wanted for a definition under the limits.
 *
 * @since 0.1.0
 * @category constructors
 */
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

/**
 * The differences between an existing configuration and the wanted one, as `field: existing -> wanted` (durations
 * written as durations, and "unlimited" for a limit of zero or less).
 *
 * @example
 * ```ts
 * import { StreamSetup } from "@glam/shared/Bus"
 *
 * StreamSetup.diff({ duplicate_window: 120_000_000_000 }, { duplicate_window: 60_000_000_000 })
 * // ["duplicate_window: 2m -> 1m"]
 * ```
 *
 * @since 0.1.0
 * @category comparison
 */
export const diff = (existing: Partial<StreamConfig>, wanted: Partial<StreamConfig>): Array<string> =>
  compared.filter((field) => wanted[field] !== undefined && !same(field, existing[field], wanted[field])).map((
    field
  ) => `${field}: ${show(field, existing[field])} -> ${show(field, wanted[field])}`)

const isNotFound = (e: unknown) => e instanceof Error && /stream not found/i.test(e.message)

const errorText = (e: unknown) => e instanceof Error ? e.message : String(e)

const streamError = (message: string, stream: string | undefined, retryable: boolean, cause?: unknown) =>
  new MessageBusError({
    message,
    details: {
      operation: stream === undefined ? "declare" : "ensure_stream",
      ...(stream !== undefined ? { stream } : {})
    },
    retryable,
    ...(cause !== undefined ? { cause } : {})
  })

const reconcile = (
  jsm: JetStreamManager,
  definition: Streams.StreamDefinition,
  limits: StreamLimits,
  update: boolean
): Effect.Effect<StreamReport, MessageBusError> =>
  Effect.gen(function*() {
    const wanted = desiredConfig(definition, limits)
    const info = yield* Effect.tryPromise({
      try: () =>
        jsm.streams.info(definition.name).then((i) => i, (e) => (isNotFound(e) ? undefined : Promise.reject(e))),
      catch: (e) => streamError(`Cannot read stream ${definition.name}: ${errorText(e)}`, definition.name, true, e)
    })
    if (info === undefined) {
      yield* Effect.tryPromise({
        try: () => jsm.streams.add({ ...wanted, name: definition.name }),
        catch: (e) =>
          streamError(
            `Cannot create stream ${definition.name} (${definition.subjects.join(", ")}): ${errorText(e)}`,
            definition.name,
            false,
            e
          )
      })
      return { stream: definition.name, action: "created", changes: [] } satisfies StreamReport
    }
    const changes = diff(info.config, wanted)
    if (changes.length === 0) return { stream: definition.name, action: "unchanged", changes } satisfies StreamReport
    if (!update) return { stream: definition.name, action: "differs", changes } satisfies StreamReport
    const blocked = changes.filter((c) => immutableFields.some((f) => c.startsWith(`${f}:`)))
    const mutable: Partial<StreamConfig> = { ...info.config }
    for (const field of compared) {
      if (!immutableFields.includes(field) && wanted[field] !== undefined) {
        ;(mutable as Record<string, unknown>)[field] = wanted[field]
      }
    }
    const updated = yield* Effect.either(Effect.tryPromise({
      try: () => jsm.streams.update(definition.name, mutable),
      catch: errorText
    }))
    if (updated._tag === "Left" || blocked.length > 0) {
      const problem = updated._tag === "Left"
        ? `NATS refused the update: ${updated.left}`
        : `NATS cannot change ${blocked.join("; ")} of an existing stream (the rest was updated); ` +
          `migrate it by hand, the Bus never deletes a stream`
      return { stream: definition.name, action: "conflict", changes, problem } satisfies StreamReport
    }
    return { stream: definition.name, action: "updated", changes } satisfies StreamReport
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
      return Effect.void
  }
}

/**
 * Ensures one stream and logs what it did: a missing stream is created (failing if it cannot be); an existing one
 * whose settings differ is left as it is with one warning listing the differences, or, with `update`, updated where
 * NATS allows (a conflict is logged at error level). `DLQ` gets `deadLetterLimits`. Nothing is ever deleted.
 *
 * @since 0.1.0
 * @category setup
 */
export const ensureStream = (
  jsm: JetStreamManager,
  definition: Streams.StreamDefinition,
  options: EnsureOptions
): Effect.Effect<StreamReport, MessageBusError> =>
  reconcile(
    jsm,
    definition,
    definition.name === DeadLetter.stream.name
      ? options.deadLetterLimits ?? deadLetterLimits(options.limits)
      : options.limits,
    options.update ?? false
  ).pipe(
    Effect.tap(logReport),
    Effect.withSpan("Bus.ensureStream", { attributes: { "messaging.destination.name": definition.name } })
  )

/**
 * Ensures every stream in turn (see {@link ensureStream}).
 *
 * @example
 * ```ts
 * import type { JetStreamManager } from "@nats-io/jetstream"
 * import { BusConfig, DeadLetter, StreamSetup } from "@glam/shared/Bus"
 * import { Streams } from "@glam/shared/Events"
 *
 * declare const jsm: JetStreamManager
 *
 * const reports = StreamSetup.ensureStreams(jsm, [Streams.make("ORDERS"), DeadLetter.stream], {
 *   limits: BusConfig.defaultStreamLimits
 * })
 * ```
 *
 * @since 0.1.0
 * @category setup
 */
export const ensureStreams = (
  jsm: JetStreamManager,
  definitions: ReadonlyArray<Streams.StreamDefinition>,
  options: EnsureOptions
): Effect.Effect<ReadonlyArray<StreamReport>, MessageBusError> =>
  Effect.forEach(definitions, (definition) => ensureStream(jsm, definition, options))

/**
 * The streams a service may use, and those it ensures at startup (see {@link declare}).
 *
 * @since 0.1.0
 * @category declaration
 */
export interface Declaration {
  /** Every stream the service may use: the platform's, its own, and `DLQ`. */
  readonly streams: ReadonlyArray<Streams.StreamDefinition>
  /** The streams ensured at startup: `DLQ`, the service's own, and those of the definitions it declared. */
  readonly atStartup: ReadonlyArray<Streams.StreamDefinition>
}

/**
 * Options of {@link declare}.
 *
 * @since 0.1.0
 * @category declaration
 */
export interface DeclareOptions {
  /** Streams any service may use without declaring them, each ensured when first used. */
  readonly platform: ReadonlyArray<Streams.StreamDefinition>
  /** The service's own streams (they replace a platform stream of the same name or domain). */
  readonly own?: ReadonlyArray<Streams.StreamDefinition> | undefined
  /**
   * Names of streams the service declares (`nats.streams`): a platform or own stream of that name, else
   * `Streams.make(name)`.
   */
  readonly names?: ReadonlyArray<string> | undefined
  /** The definitions the service publishes or subscribes to: their streams must be declared. */
  readonly events?: ReadonlyArray<EventDefinition.EventDefinition.Any> | undefined
}

const subjectsOf = (stream: Streams.StreamDefinition) => [...stream.subjects].sort()

const sameSubjects = (a: Streams.StreamDefinition, b: Streams.StreamDefinition) => {
  const x = subjectsOf(a)
  const y = subjectsOf(b)
  return x.length === y.length && x.every((subject, i) => subject === y[i])
}

/**
 * How to declare a stream, as startup and publish errors say it.
 *
 * @since 0.1.0
 * @category declaration
 */
export const howToDeclare = (name = "NAME"): string =>
  `declare it with its StreamDefinition in makeGlamLive({ streams: [...] }) (JetStream.layer: streamDefinitions, ` +
  `BusMemory.layerMemory: streams), or by name in the configuration: nats.streams: [${name}]`

/**
 * The declared stream a definition's stream stands for, or why there is none: no stream of that name is declared,
 * or the declared one holds other subjects.
 *
 * @since 0.1.0
 * @category declaration
 */
export const resolve = (
  self: Declaration,
  stream: Streams.StreamDefinition
): Either.Either<Streams.StreamDefinition, string> => {
  const declared = self.streams.find((s) => s.name === stream.name)
  if (declared === undefined) return Either.left(`stream ${stream.name} is not declared; ${howToDeclare(stream.name)}`)
  return sameSubjects(declared, stream) ? Either.right(declared) : Either.left(
    `its stream ${stream.name} holds ${stream.subjects.join(", ")}, but the declared ${stream.name} holds ` +
      `${declared.subjects.join(", ")}; define the event on the declared stream`
  )
}

/**
 * The declared stream that holds a subject, or why there is none.
 *
 * @since 0.1.0
 * @category declaration
 */
export const streamHolding = (self: Declaration, subject: string): Either.Either<Streams.StreamDefinition, string> => {
  const found = self.streams.find((stream) => Streams.holds(stream, subject))
  return found !== undefined
    ? Either.right(found)
    : Either.left(`no declared stream holds ${subject}; ${howToDeclare()}`)
}

/**
 * The streams a service may use: the platform's, its own (in code and by name), and `DLQ`; and those ensured at
 * startup. Fails, naming each one, when a declared definition's stream is not declared or two own streams share a
 * name.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { StreamSetup } from "@glam/shared/Bus"
 * import { event, EventCatalogue, Streams } from "@glam/shared/Events"
 *
 * const Orders = Streams.make("ORDERS")
 * const OrderPlaced = event("orders.placed", Schema.Struct({ order_id: Schema.String }), { stream: Orders })
 * const declaration = StreamSetup.declare({ platform: EventCatalogue.streams, own: [Orders], events: [OrderPlaced] })
 * // Right({ streams: [...the platform's, ORDERS, DLQ], atStartup: [DLQ, ORDERS] })
 * ```
 *
 * @since 0.1.0
 * @category declaration
 */
export const declare = (options: DeclareOptions): Either.Either<Declaration, MessageBusError> => {
  const problems: Array<string> = []
  const own = new Map<string, Streams.StreamDefinition>()
  for (const stream of options.own ?? []) {
    const other = own.get(stream.name)
    if (other !== undefined && !sameSubjects(other, stream)) {
      problems.push(
        `two streams named ${stream.name} are declared: one holds ${other.subjects.join(", ")}, the other ` +
          `${stream.subjects.join(", ")}`
      )
    }
    own.set(stream.name, stream)
  }
  const declaredInCode = Streams.registry([...options.platform, ...own.values()])
  const named = (options.names ?? []).map((name) =>
    declaredInCode.streams.find((stream) => stream.name === name) ?? Streams.make(name)
  )
  const registry = Streams.registry([...declaredInCode.streams, ...named])
  const partial: Declaration = { streams: [...registry.streams, DeadLetter.stream], atStartup: [] }
  const atStartup = new Map<string, Streams.StreamDefinition>([[DeadLetter.stream.name, DeadLetter.stream]])
  for (const stream of [...own.values(), ...named]) atStartup.set(stream.name, stream)
  for (const definition of options.events ?? []) {
    Either.match(resolve(partial, definition.stream), {
      onLeft: (problem) => problems.push(`${definition.subject} (in events): ${problem}`),
      onRight: (stream) => atStartup.set(stream.name, stream)
    })
  }
  if (problems.length > 0) {
    return Either.left(streamError(
      problems.length === 1
        ? problems[0]!
        : `Streams not declared as the service needs them:\n${problems.map((p) => `  ${p}`).join("\n")}`,
      undefined,
      false
    ))
  }
  return Either.right({ streams: partial.streams, atStartup: [...atStartup.values()] })
}
