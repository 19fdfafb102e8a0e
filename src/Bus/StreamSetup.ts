/**
 * Ensures the JetStream streams at startup: creates what is missing, updates what NATS allows to change, reports
 * (and never deletes) a stream whose settings cannot be changed in place.
 *
 * @since 0.1.0
 */
import type { JetStreamManager, StreamConfig } from "@nats-io/jetstream"
import { nanos } from "@nats-io/nats-core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { MessageBusError } from "../Errors/index.js"
import type * as Streams from "../Events/Streams.js"
import type { StreamLimits } from "./BusConfig.js"
import * as core from "./internal/core.js"

/**
 * What happened to one stream.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamReport {
  readonly stream: string
  readonly action: "created" | "updated" | "unchanged" | "conflict"
  /** The settings that differed (`field: existing -> wanted`). */
  readonly changes: ReadonlyArray<string>
  /** Why a conflict could not be resolved in place. */
  readonly problem?: string | undefined
}

/**
 * The settings NATS refuses to change on an existing stream.
 *
 * @since 0.1.0
 * @category models
 */
export const immutableFields: ReadonlyArray<string> = ["storage", "retention"]

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

const same = (a: unknown, b: unknown): boolean =>
  Array.isArray(a) && Array.isArray(b)
    ? a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i])
    : a === b

/**
 * The differences between an existing configuration and the wanted one, as `field: existing -> wanted`.
 *
 * @since 0.1.0
 * @category comparison
 */
export const diff = (existing: Partial<StreamConfig>, wanted: Partial<StreamConfig>): Array<string> =>
  compared.filter((field) => wanted[field] !== undefined && !same(existing[field], wanted[field])).map((field) =>
    `${field}: ${JSON.stringify(existing[field])} -> ${JSON.stringify(wanted[field])}`
  )

const isNotFound = (e: unknown) => e instanceof Error && /stream not found/i.test(e.message)

const ensureOne = (
  jsm: JetStreamManager,
  definition: Streams.StreamDefinition,
  limits: StreamLimits
): Effect.Effect<StreamReport, MessageBusError> =>
  Effect.gen(function*() {
    const wanted = desiredConfig(definition, limits)
    const info = yield* Effect.tryPromise({
      try: () =>
        jsm.streams.info(definition.name).then((i) => i, (e) => (isNotFound(e) ? undefined : Promise.reject(e))),
      catch: (e) =>
        core.busError(
          `Cannot read stream ${definition.name}: ${String(e)}`,
          {
            operation: "ensure_stream",
            stream: definition.name
          },
          true,
          e
        )
    })
    if (info === undefined) {
      yield* Effect.tryPromise({
        try: () => jsm.streams.add({ ...wanted, name: definition.name }),
        catch: (e) =>
          core.busError(
            `Cannot create stream ${definition.name}: ${e instanceof Error ? e.message : String(e)}`,
            {
              operation: "ensure_stream",
              stream: definition.name
            },
            false,
            e
          )
      })
      return { stream: definition.name, action: "created", changes: [] } satisfies StreamReport
    }
    const changes = diff(info.config, wanted)
    if (changes.length === 0) return { stream: definition.name, action: "unchanged", changes } satisfies StreamReport
    const blocked = changes.filter((c) => immutableFields.some((f) => c.startsWith(`${f}:`)))
    const mutable: Partial<StreamConfig> = { ...info.config }
    for (const field of compared) {
      if (!immutableFields.includes(field) && wanted[field] !== undefined) {
        ;(mutable as Record<string, unknown>)[field] = wanted[field]
      }
    }
    const updated = yield* Effect.either(Effect.tryPromise({
      try: () => jsm.streams.update(definition.name, mutable),
      catch: (e) => e instanceof Error ? e.message : String(e)
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

/**
 * Ensures every stream: a missing stream is created (failing startup if it cannot be), a different one updated
 * where NATS allows, and a conflict logged at error level and reported. Nothing is ever deleted.
 *
 * @since 0.1.0
 * @category setup
 */
export const ensureStreams = (
  jsm: JetStreamManager,
  definitions: ReadonlyArray<Streams.StreamDefinition>,
  limits: StreamLimits,
  deadLetterLimits: StreamLimits
): Effect.Effect<ReadonlyArray<StreamReport>, MessageBusError> =>
  Effect.forEach(
    definitions,
    (definition) =>
      ensureOne(jsm, definition, definition.name === "DLQ" ? deadLetterLimits : limits).pipe(
        Effect.tap((report) => {
          switch (report.action) {
            case "conflict":
              return Effect.logError(`Bus: stream ${report.stream} differs from its definition`).pipe(
                Effect.annotateLogs({ changes: report.changes.join("; "), problem: report.problem ?? "" })
              )
            case "updated":
              return Effect.logInfo(`Bus: stream ${report.stream} updated`).pipe(
                Effect.annotateLogs({ changes: report.changes.join("; ") })
              )
            case "created":
              return Effect.logInfo(`Bus: stream ${report.stream} created`)
            default:
              return Effect.void
          }
        })
      )
  ).pipe(Effect.withSpan("Bus.ensureStreams"))
