/**
 * The in-memory Bus: the same interface and semantics as JetStream — streams with a duplicate window, durable
 * consumers with their own cursors, ack/nak/term/working, ack-wait redelivery, max deliver, dead letters and the
 * max-deliveries advisory — driven by Effect's `Clock`, so `TestClock` controls redelivery. For development,
 * examples and tests when no NATS server is configured; a process-local bus, not a mock.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { MessageBusError } from "../Errors/Errors.js"
import type * as EventDefinition from "../Events/Events.js"
import * as Streams from "../Events/Streams.js"
import { Bus } from "./Bus.js"
import { defaultStreamLimits } from "./BusConfig.js"
import * as core from "./internal/core.js"
import * as MemoryEngine from "./internal/memoryEngine.js"

/**
 * Options of {@link layerMemory}.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryOptions {
  /** `metadata.source_service` of published envelopes (default `"memory"`). */
  readonly serviceName?: string | undefined
  /** `metadata.version` of published envelopes (default `"1.0.0"`, as Python's `service_version`). */
  readonly serviceVersion?: string | undefined
  /** The deepest nesting a received message body may have (default `EventEnvelope.defaultMaxDepth`, 64). */
  readonly maxEventDepth?: number | undefined
  /**
   * Whether dead-letter records carry the message's body (`nats.dead_letter_body`, default `"keep"`); see
   * `BusConfig.deadLetterBody`.
   *
   * @since 0.2.0
   */
  readonly deadLetterBody?: "keep" | "omit" | undefined
  /** The service's own streams, which exist from the start (as `DLQ` does). */
  readonly streams?: ReadonlyArray<Streams.StreamDefinition> | undefined
  /** The definitions the service publishes or subscribes to: their streams must be declared, and exist from the start. */
  readonly events?: ReadonlyArray<EventDefinition.EventDefinition.Any> | undefined
  /** Names of streams the service declares (`nats.streams`; see `JetStreamSetup.declare`), which exist from the start. */
  readonly declaredStreams?: ReadonlyArray<string> | undefined
  /** Streams usable without declaring them, each created when first used (default: the ten domain streams). */
  readonly platformStreams?: ReadonlyArray<Streams.StreamDefinition> | undefined
  /** How long a `Nats-Msg-Id` is remembered (default 60 seconds, as on JetStream). */
  readonly duplicateWindow?: Duration.DurationInput | undefined
  /** When set, events may be published only to these streams (the domain guard). */
  readonly ownStreams?: ReadonlyArray<string> | undefined
}

/**
 * Builds the in-memory Bus (its subscriptions stop when the scope closes). It fails when a definition of `events`
 * is on a stream that is not declared (see `JetStreamSetup.declare`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: MemoryOptions = {}): Effect.Effect<Bus, MessageBusError, Scope.Scope> =>
  core.makeDeclared(
    { own: options.streams, names: options.declaredStreams, events: options.events, platform: options.platformStreams },
    MemoryEngine.make({ streams: [], duplicateWindow: options.duplicateWindow ?? defaultStreamLimits.duplicateWindow }),
    {
      serviceName: options.serviceName ?? "memory",
      serviceVersion: options.serviceVersion,
      maxEventDepth: options.maxEventDepth,
      deadLetterBody: options.deadLetterBody,
      ownStreams: Option.fromNullable(options.ownStreams),
      // Nothing is ever in doubt in memory: a failed publish failed.
      publishRetryBudget: Duration.zero,
      ensureStreams: true
    }
  )

/**
 * The in-memory Bus as a Layer.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bus, Events } from "@glam/shared"
 *
 * const payload = { merchant_id: "8d3c5d0e-4d1b-4c9a-9a51-3f1c2b7a6e10", sync_id: "sync-1" }
 * const program = Bus.publish(Events.CatalogEvents.SyncStarted, payload).pipe(
 *   Effect.provide(Bus.BusMemory.layerMemory({ serviceName: "catalog-service" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options?: MemoryOptions): Layer.Layer<Bus, MessageBusError> =>
  Layer.scoped(
    Bus,
    Effect.tap(make(options), () => Effect.logInfo("Bus: in-memory (no NATS server configured)"))
  )
