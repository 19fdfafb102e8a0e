/**
 * The typed `nats.*` configuration section of the Bus: servers, credentials, stream limits and publish retries.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import { type AppEnv, appEnv, serviceVersion } from "../Config/ServiceInfo.js"
import * as EventEnvelope from "../Events/EventEnvelope.js"

/**
 * Stream settings applied to every domain stream the Bus ensures at startup.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamLimits {
  readonly retention: "limits" | "interest" | "workqueue"
  readonly storage: "file" | "memory"
  readonly maxAge: Duration.Duration
  /** `-1` for unlimited. */
  readonly maxMsgsPerSubject: number
  /** `-1` for unlimited. */
  readonly maxMsgs: number
  /** `-1` for unlimited. */
  readonly maxBytes: number
  readonly duplicateWindow: Duration.Duration
  readonly replicas: number
}

/**
 * The whole Bus configuration.
 *
 * @since 0.1.0
 * @category models
 */
export interface BusConfig {
  readonly servers: ReadonlyArray<string>
  readonly user: Option.Option<string>
  readonly password: Option.Option<Redacted.Redacted>
  readonly token: Option.Option<Redacted.Redacted>
  /** The connection name and the `metadata.source_service` of published envelopes. */
  readonly serviceName: string
  /** The `metadata.version` of published envelopes (`service.version`, as Python's `service_version`). */
  readonly serviceVersion: string
  readonly appEnv: AppEnv
  readonly streams: StreamLimits
  /** How long one publish waits for its JetStream ack. */
  readonly publishTimeout: Duration.Duration
  /** The total time a publish with an unknown outcome is retried (same `Nats-Msg-Id`). */
  readonly publishRetryBudget: Duration.Duration
  /** When set, the service may publish events only to these streams (`DomainEventPublisher._validate_subject`). */
  readonly ownStreams: Option.Option<ReadonlyArray<string>>
  /** Whether the Bus creates/updates the domain streams at startup. */
  readonly ensureStreams: boolean
  /** The deepest nesting a received message body may have; deeper ones are dead-lettered undecoded. */
  readonly maxEventDepth: number
}

/**
 * The default stream limits (the Python `ensure_stream`: limits retention, 7 days, 100 000 messages per subject,
 * file storage) with a 2 minute duplicate window and one replica.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultStreamLimits: StreamLimits = {
  retention: "limits",
  storage: "file",
  maxAge: Duration.days(7),
  maxMsgsPerSubject: 100_000,
  maxMsgs: -1,
  maxBytes: -1,
  duplicateWindow: Duration.minutes(2),
  replicas: 1
}

const nats = <A>(config: Config.Config<A>) => Config.nested(config, "nats")

/**
 * The `nats.*` stream limits; `nats.stream_replicas` defaults to 3 in `prod` and 1 elsewhere.
 *
 * @since 0.1.0
 * @category configs
 */
export const streamLimits: Config.Config<StreamLimits> = Config.all({
  env: appEnv,
  retention: nats(Config.literal("limits", "interest", "workqueue")("stream_retention")).pipe(
    Config.withDefault(defaultStreamLimits.retention)
  ),
  storage: nats(Config.literal("file", "memory")("stream_storage")).pipe(
    Config.withDefault(defaultStreamLimits.storage)
  ),
  maxAge: nats(Config.duration("stream_max_age")).pipe(Config.withDefault(defaultStreamLimits.maxAge)),
  maxMsgsPerSubject: nats(Config.integer("stream_max_msgs_per_subject")).pipe(
    Config.withDefault(defaultStreamLimits.maxMsgsPerSubject)
  ),
  maxMsgs: nats(Config.integer("stream_max_msgs")).pipe(Config.withDefault(defaultStreamLimits.maxMsgs)),
  maxBytes: nats(Config.integer("stream_max_bytes")).pipe(Config.withDefault(defaultStreamLimits.maxBytes)),
  duplicateWindow: nats(Config.duration("stream_duplicate_window")).pipe(
    Config.withDefault(defaultStreamLimits.duplicateWindow)
  ),
  replicas: nats(Config.integer("stream_replicas")).pipe(Config.option)
}).pipe(
  Config.map(({ env, replicas, ...rest }) => ({
    ...rest,
    replicas: Option.getOrElse(replicas, () => (env === "prod" ? 3 : 1))
  }))
)

/**
 * The Bus configuration: `nats.servers` (list), `nats.user` + `nats.password` or `nats.token` (Redacted),
 * `service.name`, `service.version` (`1.0.0`), `app_env`, the stream limits, `nats.publish_timeout` (5 s),
 * `nats.publish_retry_budget` (30 s), `nats.own_streams` (list, enables the domain guard), `nats.ensure_streams`
 * (true), `nats.max_event_depth` (64, at least 2: the envelope and its payload).
 *
 * @example
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import { BusConfig } from "@glam/shared/Bus"
 *
 * const provider = ConfigProvider.fromJson({ service: { name: "catalog-service" }, nats: { servers: ["nats://n1:4222"] } })
 * const config = Effect.withConfigProvider(BusConfig.config, provider)
 * ```
 *
 * @since 0.1.0
 * @category configs
 */
export const config: Config.Config<BusConfig> = Config.all({
  servers: nats(Config.array(Config.string(), "servers")).pipe(
    Config.withDefault<ReadonlyArray<string>>(["nats://127.0.0.1:4222"])
  ),
  user: nats(Config.string("user")).pipe(Config.option),
  password: nats(Config.redacted("password")).pipe(Config.option),
  token: nats(Config.redacted("token")).pipe(Config.option),
  serviceName: Config.nested(Config.string("name"), "service"),
  serviceVersion,
  appEnv,
  streams: streamLimits,
  publishTimeout: nats(Config.duration("publish_timeout")).pipe(Config.withDefault(Duration.seconds(5))),
  publishRetryBudget: nats(Config.duration("publish_retry_budget")).pipe(Config.withDefault(Duration.seconds(30))),
  ownStreams: nats(Config.array(Config.string(), "own_streams")).pipe(Config.option),
  ensureStreams: nats(Config.boolean("ensure_streams")).pipe(Config.withDefault(true)),
  maxEventDepth: nats(Config.integer("max_event_depth")).pipe(
    Config.validate({
      message: "Expected an integer of at least 2 (the envelope and its payload)",
      validation: (depth) => depth >= 2
    }),
    Config.withDefault(EventEnvelope.defaultMaxDepth)
  )
})
