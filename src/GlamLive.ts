/**
 * The whole toolkit as one Layer: Config -> Telemetry -> Sql and Bus -> the outbox relay, with embedded defaults
 * (PGlite, the in-memory bus) when no server is configured outside production.
 *
 * @since 0.1.0
 */
import type * as Resource from "@effect/opentelemetry/Resource"
import type { PgClient } from "@effect/sql-pg/PgClient"
import type { SqlClient } from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import * as Path from "node:path"
import { type Bus, health as busHealth } from "./Bus/Bus.js"
import * as BusConfig from "./Bus/BusConfig.js"
import * as BusMemory from "./Bus/BusMemory.js"
import * as JetStreamSetup from "./Bus/JetStreamSetup.js"
import * as GlamConfig from "./Config/Config.js"
import * as EventCatalogue from "./Events/EventCatalogue.js"
import type * as EventDefinition from "./Events/Events.js"
import type * as Streams from "./Events/Streams.js"
import * as HttpConfig from "./Http/HttpConfig.js"
import * as Readiness from "./Http/Readiness.js"
import * as SecurityHeaders from "./Http/SecurityHeaders.js"
import * as ConfiguredSecrets from "./internal/configuredSecrets.js"
import * as StandInLoggers from "./internal/standInLoggers.js"
import * as Inbox from "./Sql/Inbox.js"
import type * as Outbox from "./Sql/Outbox.js"
import * as OutboxRelay from "./Sql/OutboxRelay.js"
import * as Sql from "./Sql/Sql.js"
import * as SqlConfig from "./Sql/SqlConfig.js"
import * as GlamLogger from "./Telemetry/GlamLogger.js"
import * as Telemetry from "./Telemetry/Telemetry.js"
import * as TelemetryConfig from "./Telemetry/TelemetryConfig.js"

/**
 * Why the toolkit could not start: every configuration problem on its own line (key, expected type, and the
 * file or variable that sets it), or the failure of a server at startup. Its `stack` is its message alone.
 *
 * @since 0.1.0
 * @category errors
 */
export class StartupError extends Schema.TaggedError<StartupError>()("StartupError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  // The message says what is wrong and where it is set: the frames would be Effect's, of no use to the reader.
  override stack = `StartupError: ${this.message}`
}

/**
 * The streams and definitions a service declares to its Bus (see {@link layer}).
 *
 * @since 0.1.0
 * @category models
 */
export interface BusOptions {
  /**
   * The service's own streams, beside the platform's (`EventCatalogue.streams`): created at startup when missing.
   * A definition on a stream that is neither the platform's, declared here, nor named in `nats.streams` is refused.
   */
  readonly streams?: ReadonlyArray<Streams.StreamDefinition> | undefined
  /**
   * The definitions the service publishes or subscribes to: checked at startup (a startup error names each one whose
   * stream is not declared), and their streams ensured at startup instead of at first use.
   */
  readonly events?: ReadonlyArray<EventDefinition.EventDefinition.Any> | undefined
}

/**
 * Options of {@link layer}: where the configuration comes from (see `Config.load`), the migrations to run at
 * startup when `database.migrate_on_start` is set, and the streams and definitions of the service.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends GlamConfig.LoadOptions, BusOptions {
  readonly migrations?: Sql.SqlLayerConfigOptions["migrations"]
}

/**
 * What `GlamLive` provides.
 *
 * @since 0.1.0
 * @category models
 */
export type Services =
  | Bus
  | SqlClient
  | PgClient
  | OutboxRelay.OutboxRelay
  | Outbox.Producer
  | Resource.Resource
  | Readiness.Readiness

/**
 * The Bus from configuration: JetStream when `nats.servers` is set; otherwise the in-memory bus with one log line
 * saying so, except in `app_env` `prod`, where a missing server is a startup error. Either uses the platform's
 * streams (`EventCatalogue.streams`, each ensured when first used) and those the service declares: `streams`, the
 * names in `nats.streams`, and the streams of `events`, all ensured at startup with `DLQ`.
 *
 * @since 0.1.0
 * @category layers
 */
export const busLayerConfig = (options: BusOptions = {}): Layer.Layer<Bus, StartupError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const servers = yield* Config.option(Config.nested(Config.array(Config.string(), "servers"), "nats"))
      const config = yield* BusConfig.config
      const streams = { platformStreams: EventCatalogue.streams, events: options.events }
      if (Option.isSome(servers) && servers.value.length > 0) {
        // Imported only when configured: the NATS client is not loaded by a service on the in-memory bus.
        const JetStream = yield* Effect.promise(() => import("./Bus/JetStream.js"))
        return JetStream.layer({ ...config, ...streams, streamDefinitions: options.streams }).pipe(
          Layer.mapError((cause) =>
            new StartupError({ message: GlamConfig.redactUrlCredentials(cause.message), cause })
          )
        )
      }
      if (config.appEnv === "prod") {
        return Layer.fail(
          new StartupError({
            message: "No NATS server configured (nats.servers, or <PREFIX>_NATS__SERVERS) in APP_ENV=prod"
          })
        )
      }
      // BusMemory says in one log line that the in-memory bus is in use.
      return BusMemory.layerMemory({
        ...streams,
        serviceName: config.serviceName,
        serviceVersion: config.serviceVersion,
        maxEventDepth: config.maxEventDepth,
        deadLetterBody: config.deadLetterBody,
        streams: options.streams,
        declaredStreams: config.declaredStreams,
        duplicateWindow: config.streams.duplicateWindow,
        ownStreams: Option.getOrUndefined(config.ownStreams)
      }).pipe(Layer.mapError((cause) => new StartupError({ message: cause.message, cause })))
    })
  )

/** A missing key's problem (worded by the provider: the service's file and variables) with what it means in prod. */
const requiredInProd = <A>(
  config: Config.Config<A>,
  meaning: string,
  alternative = ""
): Effect.Effect<void, ConfigError.ConfigError> =>
  Effect.asVoid(config).pipe(
    Effect.mapError((error) =>
      error._op === "MissingData"
        ? ConfigError.MissingData(error.path, `${error.message}${alternative}. ${meaning}`)
        : error
    )
  )

/**
 * In `app_env` `prod` no embedded server stands in for a missing one: `database.host` (unless `database.url` is set)
 * and `nats.servers` are read as required keys, so that each missing server is one problem of the startup error,
 * naming the key, the service's file and its variables.
 */
const serversRequiredInProd: Effect.Effect<void, ConfigError.ConfigError> = Effect.gen(function*() {
  if ((yield* Effect.orElseSucceed(GlamConfig.appEnv, () => "dev")) !== "prod") return
  const url = yield* Effect.orElseSucceed(
    Config.option(Config.nested(Config.string("url"), "database")),
    () => Option.none<string>()
  )
  yield* Effect.all([
    Option.isSome(url) ? Effect.void : requiredInProd(
      Config.nested(Config.string("host"), "database"),
      "No database server configured: in APP_ENV=prod the service never falls back to the embedded PostgreSQL",
      ", or set database.url"
    ),
    requiredInProd(
      Config.nested(Config.array(Config.string(), "servers"), "nats"),
      "No NATS server configured: in APP_ENV=prod the service never falls back to the in-memory bus"
    )
  ], { mode: "validate", discard: true }).pipe(
    Effect.mapError((errors) => errors.flatMap(Option.toArray).reduce((a, b) => ConfigError.And(a, b)))
  )
})

const describe = (error: unknown): StartupError => {
  if (error instanceof StartupError) return error
  if (ConfigError.isConfigError(error)) {
    return new StartupError({ message: `Invalid configuration:\n${GlamConfig.formatConfigError(error)}` })
  }
  const message = GlamConfig.redactUrlCredentials(error instanceof Error ? error.message : String(error))
  return new StartupError({ message, cause: error })
}

/**
 * The Bus is ready while connected (the in-memory bus always is) and the streams of its subscriptions are there: a
 * missing one is named in the code (`BUS_STREAM_MISSING:ORDERS`) when it fits the readiness answer's identifiers.
 */
const busCheck = Effect.flatMap(busHealth, (health) => {
  if (health.healthy) return Effect.void
  const missing = health.missingStreams?.[0]
  if (health.status !== "connected" || missing === undefined) {
    return Effect.fail({ code: `BUS_${health.status.toUpperCase()}` })
  }
  const named = `BUS_STREAM_MISSING:${missing}`
  return Effect.fail({ code: named.length <= 64 ? named : "BUS_STREAM_MISSING" })
})

/**
 * The toolkit's readiness checks, in the registry GlamLive provides: `database` (`Sql.health()`, a `SELECT 1`
 * under 2 seconds), `bus` (connected), and `outbox` (the backlog within `outbox.ready_max_backlog` and
 * `outbox.ready_max_age`).
 */
const readinessChecks = Layer.effectDiscard(Effect.gen(function*() {
  const outbox = yield* OutboxRelay.config
  yield* Readiness.registerIfPresent("database", Sql.health())
  yield* Readiness.registerIfPresent("bus", busCheck)
  yield* Readiness.registerIfPresent(
    "outbox",
    OutboxRelay.readinessCheck({ maxBacklog: outbox.readyMaxBacklog, maxAge: outbox.readyMaxAge })
  )
}))

/**
 * The toolkit's services from configuration: `Config.layer(options)` installs the configuration, then
 * `Telemetry.layerConfig`, then `Sql.layerConfig` and the Bus side by side, then the outbox relay on both
 * (`OutboxRelay.layerConfig`, the `outbox` section; `outbox.relay_enabled: false` turns its loop off) and the
 * inbox's retention (`Sql.Inbox.layerRetentionConfig`: nothing unless `inbox.retention` is set). Scopes
 * close in reverse: the relay stops and flushes what is pending before the Bus drains and the pool closes. While
 * they close after a SIGINT or SIGTERM that `NodeRuntime.runMain` handled, a repeated one (`npm start` passes
 * Ctrl-C on) is ignored with one warning instead of ending the process midway. A configuration problem fails
 * startup with a `StartupError` listing every problem.
 *
 * It also provides the `Http.Readiness` registry with the toolkit's checks registered: `database`, `bus` and
 * `outbox` (the backlog within `outbox.ready_max_backlog` rows and `outbox.ready_max_age`), so `Http.serve` on it
 * answers `/api/v1/ready` with them; a check of the service's own goes in with `Http.Readiness.register`.
 *
 * The Bus uses the platform's streams and the service's own (`streams`, or by name in `nats.streams`); `events`
 * lists the definitions the service publishes or subscribes to, checked at startup (see {@link busLayerConfig}).
 *
 * @example
 * ```ts
 * import { NodeRuntime } from "@effect/platform-node"
 * import { Effect, Schema } from "effect"
 * import { Bus, Events, makeGlamLive } from "@glam/shared"
 *
 * declare const program: Effect.Effect<void, never, Bus.Bus>
 * const Orders = Events.Streams.make("ORDERS") // cmd.orders.>, evt.orders.>
 * const OrderPlaced = Events.event("orders.placed", Schema.Struct({ order_id: Schema.String }), { stream: Orders })
 *
 * // GlamLive installs the service's logger: turn off runMain's own pretty logger.
 * program.pipe(
 *   Effect.provide(makeGlamLive({ service: "order-service", streams: [Orders], events: [OrderPlaced] })),
 *   NodeRuntime.runMain({ disablePrettyLogger: true })
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<Services, StartupError> => {
  const { events, migrations, streams, ...load } = options
  // Every section is read once before anything starts, so one startup error lists every problem, not just the
  // first layer's (the http section too, which `Http.serve` reads later); so are the streams of the declared
  // events, before any server is reached.
  const sections = Config.all([
    TelemetryConfig.config,
    SqlConfig.databaseConfig,
    BusConfig.config,
    OutboxRelay.config,
    Inbox.config,
    HttpConfig.server,
    HttpConfig.rateLimit,
    SecurityHeaders.config
  ])
  const validated = Layer.effectDiscard(
    Effect.all([sections, serversRequiredInProd], { mode: "validate" }).pipe(
      Effect.mapError((errors) => errors.flatMap(Option.toArray).reduce((a, b) => ConfigError.And(a, b))),
      Effect.flatMap(([[, , bus]]) =>
        JetStreamSetup.declare({ platform: EventCatalogue.streams, own: streams, names: bus.declaredStreams, events })
      )
    )
  )
  const infrastructure = Layer.mergeAll(
    Sql.layerConfig({ migrations, embeddedDir: Path.resolve(load.root ?? process.cwd(), ".glam", "pglite") }),
    busLayerConfig({ streams, events })
  )
  return Layer.unwrapScoped(Effect.gen(function*() {
    const logger = yield* Ref.make<FailureLogger>({ options: fallbackLogger(load.service), secrets: [] })
    yield* Effect.addFinalizer((exit) => serviceLoggerOnFailure(exit, logger))
    const loaded = yield* GlamConfig.load(load)
    yield* Effect.flatMap(
      loggerOf(loaded),
      (options) => Ref.set(logger, { options, secrets: ConfiguredSecrets.treeSecrets(loaded.tree) })
    )
    // Built on both, so its finalizer (stop polling, flush the outbox) runs before the Bus drains and the pool closes.
    return Layer.mergeAll(OutboxRelay.layerConfig(), Inbox.layerRetentionConfig(), readinessChecks).pipe(
      Layer.provideMerge(infrastructure),
      Layer.provideMerge(Readiness.layer),
      // After the logger is installed, before any server is reached.
      Layer.provideMerge(
        Layer.merge(
          Layer.effectDiscard(Effect.zipRight(announce(loaded), configWarnings(loaded))),
          Layer.scopedDiscard(repeatedSignals)
        )
      ),
      Layer.provideMerge(Telemetry.layerConfig()),
      Layer.provide(validated),
      Layer.provide(Layer.setConfigProvider(GlamConfig.provider(loaded))),
      // Before the logger: a line of the startup already has the secrets hidden.
      Layer.provideMerge(GlamConfig.layerSecrets(loaded))
    )
  })).pipe(Layer.mapError(describe))
}

/**
 * `npm start` passes the terminal's Ctrl-C on to the service, which so gets SIGINT twice. `NodeRuntime.runMain`
 * begins the stop at the first signal and stops listening, and Node's default ends the process at the second,
 * before requests are drained, the outbox flushed and the database closed. Listening before the others, this marks
 * the service as stopping when another listener takes a signal; a SIGINT or SIGTERM that comes when nothing else
 * listens is then ignored with one warning, or, when none came before, given Node's default (the process ends).
 */
/** The listeners of {@link repeatedSignals}, one per service layer built in the process. */
const signalGuards = new Set<(...args: Array<never>) => void>()

const repeatedSignals = Effect.gen(function*() {
  const runtime = yield* Effect.runtime<never>()
  let stopping = false
  let warned = false
  const onSignal = (signal: NodeJS.Signals) => {
    // Another service's listener of this kind is not a handler that stops the process.
    if (process.listeners(signal).some((listener) => !signalGuards.has(listener))) {
      stopping = true
    } else if (!stopping) {
      remove()
      process.kill(process.pid, signal)
    } else if (!warned) {
      warned = true
      Runtime.runFork(runtime)(
        Effect.logWarning(
          `${signal} received again while stopping (npm passes Ctrl-C on as a second one): ignored, so that the ` +
            "service stops in order; SIGKILL ends it at once"
        )
      )
    }
  }
  const remove = () => {
    signalGuards.delete(onSignal)
    process.removeListener("SIGINT", onSignal)
    process.removeListener("SIGTERM", onSignal)
  }
  yield* Effect.acquireRelease(
    Effect.sync(() => {
      signalGuards.add(onSignal)
      process.prependListener("SIGINT", onSignal)
      process.prependListener("SIGTERM", onSignal)
    }),
    () => Effect.sync(remove)
  )
})

type LoggerOptions = Pick<GlamLogger.Options, "service" | "environment" | "format">

/** The logger of a failed start, and the secrets of its configuration, hidden in its lines. */
interface FailureLogger {
  readonly options: LoggerOptions
  readonly secrets: ReadonlyArray<string>
}

/** The logger of a service whose configuration could not be read: its name, dev's console format. */
const fallbackLogger = (service: string | undefined): LoggerOptions => ({
  service: service ?? "glam",
  environment: "dev",
  format: "console"
})

/** The service's logger as far as its configuration says: each key that cannot be read keeps its fallback. */
const loggerOf = (loaded: GlamConfig.LoadedConfig): Effect.Effect<LoggerOptions> => {
  const fallback = fallbackLogger(loaded.service)
  return Effect.all({
    service: Effect.orElseSucceed(HttpConfig.serviceName, () => fallback.service),
    environment: Effect.orElseSucceed(TelemetryConfig.appEnv, () => fallback.environment),
    format: Effect.orElseSucceed(TelemetryConfig.logFormat, () => fallback.format)
  }).pipe(Effect.withConfigProvider(GlamConfig.provider(loaded)))
}

/**
 * When the layer fails (at startup, or when a service's layer on it fails), the service's logger replaces Effect's
 * default one (and the one an earlier failed start in the fiber installed) in the fiber that built it, after every
 * other finalizer: the failure `NodeRuntime.runMain` reports comes out in the service's format (a JSON line in prod),
 * not in Effect's. The loggers a user installed stay. The configuration's secrets stay registered from then on (the
 * scope that registered them has closed): the failure, reported after, may quote one (a URL the service built with
 * its database password), and a start that fails is followed by the end of the process or by another start.
 */
const serviceLoggerOnFailure = (exit: Exit.Exit<unknown, unknown>, logger: Ref.Ref<FailureLogger>) =>
  Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)
    ? Effect.flatMap(Ref.get(logger), ({ options, secrets }) =>
      Effect.zipRight(
        Effect.sync(() => ConfiguredSecrets.retain(secrets)),
        FiberRef.update(
          FiberRef.currentLoggers,
          (loggers) => StandInLoggers.replace(loggers, Logger.defaultLogger, GlamLogger.make(options))
        )
      ))
    : Effect.void

/** The first milestone line: which service, in which environment, from which files. */
const announce = (loaded: GlamConfig.LoadedConfig) =>
  Effect.flatMap(GlamConfig.appEnv, (env) => {
    const files = new Set<string>()
    for (const origin of loaded.origins.values()) {
      if (origin._tag === "File") files.add(origin.file)
      else if (origin._tag === "Env" && origin.file !== undefined) files.add(origin.file)
    }
    const from = files.size === 0 ? "no file" : [...files].sort().join(", ")
    return Effect.logInfo(`Configuration loaded: ${loaded.service ?? "(no service name)"}, env ${env}, from ${from}`)
  })

/**
 * The top-level keys the toolkit reads, with the keys of the sections whose every key is known here: `databse` or
 * `database.hots` is then reported with the key probably meant (a misspelt `nats.server` would otherwise leave a
 * service outside prod on the in-memory bus without a word). A known section's keys are those its readers read
 * (`GlamConfig.sectionKeys`). The seed's flat `<PREFIX>_DB_*` and `<PREFIX>_NATS_SERVERS` also set top-level keys
 * (`db_host`).
 */
const toolkitKeys = (): GlamConfig.KnownKeys => {
  // SQLAlchemy's `async_driver` is accepted, and of no use here: no reader reads it.
  const database = new Set([...GlamConfig.sectionKeys("database", [SqlConfig.databaseConfig]), "async_driver"])
  return new Map<string, ReadonlySet<string> | undefined>([
    ["service", undefined],
    ["app_env", undefined],
    ["log_level", undefined],
    ["logging", GlamConfig.sectionKeys("logging", [TelemetryConfig.config])],
    ["telemetry", GlamConfig.sectionKeys("telemetry", [TelemetryConfig.config])],
    ["telemetry.otlp", GlamConfig.sectionKeys("telemetry.otlp", [TelemetryConfig.config])],
    ["database", database],
    ["outbox", GlamConfig.sectionKeys("outbox", [OutboxRelay.config])],
    ["inbox", GlamConfig.sectionKeys("inbox", [Inbox.config])],
    ["nats", GlamConfig.sectionKeys("nats", [BusConfig.config])],
    ["nats_servers", undefined],
    ["http", GlamConfig.sectionKeys("http", [HttpConfig.server, SecurityHeaders.config])],
    ["rate_limit", undefined],
    ["auth", undefined],
    ["redis", undefined],
    ["cache", undefined],
    ["mqtt", undefined],
    ["devices", undefined],
    ["clients", undefined],
    ...[...database].map((key) => [`db_${key}`, undefined] as const)
  ])
}

/**
 * One warning line per key nothing reads (with the key probably meant), and per value of the seed's database
 * settings that is set but not honoured.
 */
const configWarnings = (loaded: GlamConfig.LoadedConfig) =>
  Effect.gen(function*() {
    for (const unknown of GlamConfig.unknownKeys(loaded, toolkitKeys())) yield* Effect.logWarning(unknown.message)
    const database = yield* SqlConfig.databaseConfig
    const from = (key: string) => {
      const origin = GlamConfig.originOf(loaded, ["database", key])
      return origin === undefined ? "" : ` (from ${GlamConfig.formatOrigin(origin)})`
    }
    if (!database.enabled) {
      yield* Effect.logWarning(
        `database.enabled is false${from("enabled")}, which GlamLive does not honour: it starts the configured ` +
          "database, or the embedded one. Remove the key, or compose the service's layers without GlamLive"
      )
    }
    if (Option.isSome(database.poolPrePing)) {
      yield* Effect.logWarning(
        `database.pool_pre_ping${from("pool_pre_ping")} is not honoured: the pool runs no validation query; a ` +
          "broken connection fails its statement and leaves the pool (Sql.transaction retries it). Remove the key"
      )
    }
  })

/**
 * `layer()` with the service named by `GLAM_SERVICE` and the configuration under the working directory.
 *
 * @since 0.1.0
 * @category layers
 */
export const GlamLive: Layer.Layer<Services, StartupError> = layer()
