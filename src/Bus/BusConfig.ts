/**
 * The typed `nats.*` configuration section of the Bus: servers, credentials, stream settings and publish retries.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import { duration, maxTimer } from "../Config/internal/duration.js"
import { type AppEnv, appEnv, serviceVersion } from "../Config/ServiceInfo.js"
import * as EventEnvelope from "../Events/EventEnvelope.js"
import * as Streams from "../Events/Streams.js"
import { quoteValue } from "../internal/text.js"

/**
 * The settings of a stream the Bus creates (and, with `nats.update_streams`, of one it updates).
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
  /**
   * How long the first connection may wait for a server's answer before startup fails (`nats.connect_timeout`,
   * default 5 s; the NATS client's own default is 20 s, nats-py's 2 s): a host and port that accept the connection
   * but are not NATS (another server's port) fail in that time, naming the key.
   */
  readonly connectTimeout?: Duration.Duration | undefined
  /** How long one publish waits for its JetStream ack. */
  readonly publishTimeout: Duration.Duration
  /**
   * How long after it started a publish with an unknown outcome is retried (same `Nats-Msg-Id`). A publish returns
   * within this budget or `publishTimeout`, whichever is longer.
   */
  readonly publishRetryBudget: Duration.Duration
  /** When set, the service may publish events only to these streams (`DomainEventPublisher._validate_subject`). */
  readonly ownStreams: Option.Option<ReadonlyArray<string>>
  /** Whether the Bus creates the streams it uses that are missing (and reads the settings of those that exist). */
  readonly ensureStreams: boolean
  /**
   * Names of streams the service declares (`nats.streams`), ensured at startup: a platform stream, one the service
   * declares in code, or else a stream `Streams.make(name)` (its domain the lower-cased name). Default none.
   */
  readonly declaredStreams?: ReadonlyArray<string> | undefined
  /**
   * Whether an existing stream whose settings differ from these is updated where NATS allows (`nats.update_streams`);
   * otherwise it is left as it is and the differences are logged. Default `false`.
   */
  readonly updateStreams?: boolean | undefined
  /** The deepest nesting a received message body may have; deeper ones are dead-lettered undecoded. */
  readonly maxEventDepth: number
  /**
   * `nats.dead_letter_body`, default `"keep"`: whether dead-letter records carry the message's body; `"omit"` keeps
   * only where the original is (its stream and sequence), for bodies that must not be copied (a patient's data).
   * A subscription's `deadLetterBody` overrides it. Left out, `"keep"`.
   *
   * @since 0.2.0
   */
  readonly deadLetterBody?: "keep" | "omit" | undefined
}

/**
 * The default stream settings, those of the Python `JetStreamEventPublisher.ensure_stream`: limits retention,
 * 7 days, 100 000 messages per subject, file storage, a 60 second duplicate window (rollup headers allowed), and no
 * replica count, which is the server's default of one.
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
  duplicateWindow: Duration.seconds(60),
  replicas: 1
}

const nats = <A>(config: Config.Config<A>) => Config.nested(config, "nats")

// A NATS count or size limit: -1 is none; the server reads 0 as none too, which a key set to 0 does not mean.
const streamLimit = (name: string, fallback: number) =>
  nats(Config.integer(name)).pipe(
    Config.validate({
      message: "Expected -1 (no limit) or an integer of at least 1",
      validation: (n) => n === -1 || n >= 1
    }),
    Config.withDefault(fallback)
  )

/**
 * The `nats.stream_*` settings, each defaulting to {@link defaultStreamLimits} in every environment.
 *
 * @since 0.1.0
 * @category configs
 */
export const streamLimits: Config.Config<StreamLimits> = Config.all({
  retention: nats(Config.literal("limits", "interest", "workqueue")("stream_retention")).pipe(
    Config.withDefault(defaultStreamLimits.retention)
  ),
  storage: nats(Config.literal("file", "memory")("stream_storage")).pipe(
    Config.withDefault(defaultStreamLimits.storage)
  ),
  maxAge: nats(duration("stream_max_age", { zero: true })).pipe(Config.withDefault(defaultStreamLimits.maxAge)),
  maxMsgsPerSubject: streamLimit("stream_max_msgs_per_subject", defaultStreamLimits.maxMsgsPerSubject),
  maxMsgs: streamLimit("stream_max_msgs", defaultStreamLimits.maxMsgs),
  maxBytes: streamLimit("stream_max_bytes", defaultStreamLimits.maxBytes),
  duplicateWindow: nats(duration("stream_duplicate_window", { zero: true })).pipe(
    Config.withDefault(defaultStreamLimits.duplicateWindow)
  ),
  // The server refuses more than 5 replicas, and reads 0 as 1.
  replicas: nats(Config.integer("stream_replicas")).pipe(
    Config.validate({
      message: "Expected an integer from 1 to 5 (the most NATS keeps)",
      validation: (n) => n >= 1 && n <= 5
    }),
    Config.withDefault(defaultStreamLimits.replicas)
  )
})

/**
 * `nats.streams`: the names of the streams the service declares, each letters, digits, `_` or `-`, at most 255
 * characters (`Streams.nameRefusal`).
 *
 * @since 0.1.0
 * @category configs
 */
export const declaredStreams: Config.Config<ReadonlyArray<string>> = nats(Config.array(Config.string(), "streams"))
  .pipe(
    Config.mapOrFail((names) => {
      const bad = names.find((name) => Streams.nameRefusal(name) !== undefined)
      return bad === undefined
        ? Either.right(names)
        : Either.left(
          ConfigError.InvalidData(
            ["streams"],
            `Expected stream names (letters, digits, "_" or "-", at most ${Streams.maxNameLength} characters), ` +
              `got ${quoteValue(bad, 80)}`
          )
        )
    }),
    Config.withDefault<ReadonlyArray<string>>([])
  )

// The client reads a server's host and port whatever its scheme: `http://` or `postgres://` would connect to that
// address as NATS. Only the scheme and the entry are named in the message, never the server, which may carry
// credentials.
const natsSchemes = new Set(["nats", "tls"])

const natsServers = nats(Config.array(Config.string(), "servers")).pipe(
  Config.mapOrFail((servers) => {
    const refused = servers.map((server, index) => ({
      index,
      scheme: /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(server.trim())?.[1]
    })).find(({ scheme }) => scheme !== undefined && !natsSchemes.has(scheme.toLowerCase()))
    return refused === undefined
      ? Either.right(servers)
      : Either.left(
        ConfigError.InvalidData(
          ["servers"],
          `expected NATS servers (nats://host:4222, tls://host:4222 or host:4222), got a ${refused.scheme}:// URL ` +
            `at [${refused.index}]`
        )
      )
  }),
  Config.withDefault<ReadonlyArray<string>>(["nats://127.0.0.1:4222"])
)

/**
 * The Bus configuration: `nats.servers` (list; URLs may carry credentials, see `JetStream.connection`), `nats.user` +
 * `nats.password` or `nats.token` (Redacted), `service.name`, `service.version` (`1.0.0`), `app_env`, the stream
 * settings, `nats.connect_timeout` (5 s), `nats.publish_timeout` (5 s), `nats.publish_retry_budget` (30 s; a publish
 * returns within it or the publish timeout, whichever is longer), `nats.own_streams` (list, enables the domain guard),
 * `nats.ensure_streams` (true), `nats.streams` (list of the stream names the service declares), `nats.update_streams`
 * (false), `nats.max_event_depth` (64, at least 2: the envelope and its payload), `nats.dead_letter_body` (`keep` or
 * `omit`, default `keep`).
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
  servers: natsServers,
  user: nats(Config.string("user")).pipe(Config.option),
  password: nats(Config.redacted("password")).pipe(Config.option),
  token: nats(Config.redacted("token")).pipe(Config.option),
  serviceName: Config.nested(Config.string("name"), "service"),
  serviceVersion,
  appEnv,
  streams: streamLimits,
  connectTimeout: nats(duration("connect_timeout", { max: maxTimer })).pipe(Config.withDefault(Duration.seconds(5))),
  publishTimeout: nats(duration("publish_timeout", { max: maxTimer })).pipe(Config.withDefault(Duration.seconds(5))),
  publishRetryBudget: nats(duration("publish_retry_budget", { zero: true, max: maxTimer })).pipe(
    Config.withDefault(Duration.seconds(30))
  ),
  ownStreams: nats(Config.array(Config.string(), "own_streams")).pipe(Config.option),
  ensureStreams: nats(Config.boolean("ensure_streams")).pipe(Config.withDefault(true)),
  declaredStreams,
  updateStreams: nats(Config.boolean("update_streams")).pipe(Config.withDefault(false)),
  maxEventDepth: nats(Config.integer("max_event_depth")).pipe(
    Config.validate({
      message: "Expected an integer of at least 2 (the envelope and its payload)",
      validation: (depth) => depth >= 2
    }),
    Config.withDefault(EventEnvelope.defaultMaxDepth)
  ),
  deadLetterBody: nats(Config.literal("keep", "omit")("dead_letter_body")).pipe(Config.withDefault("keep" as const))
})
