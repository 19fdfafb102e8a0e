/**
 * What every worker process of the reliability suite shares: its settings (one JSON argument), its reports (stdout
 * lines `@@{json}`, see `support/worker.ts`), the scenario's event definition and a JetStream Bus on the test's
 * servers.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Duration, Effect, Layer, Option, Schema } from "effect"
import { JetStream } from "../../../src/Bus/index.js"
import { BusConfig } from "../../../src/Bus/index.js"
import * as Errors from "../../../src/Errors/index.js"
import * as Events from "../../../src/Events/index.js"
import { Streams } from "../../../src/Events/index.js"
import * as Sql from "../../../src/Sql/index.js"

/** The settings every worker is given. */
export interface WorkerSettings {
  /** The NATS servers' URLs. */
  readonly servers: ReadonlyArray<string>
  /** The scenario's stream (its domain is the name, lower-cased). */
  readonly stream: string
  readonly service: string
  readonly replicas?: number
  readonly duplicateWindowMs?: number
  readonly publishTimeoutMs?: number
  readonly publishRetryBudgetMs?: number
  /** A test-owned PostgreSQL, for the workers that use one. */
  readonly postgres?: { readonly port: number; readonly database: string; readonly user: string }
}

/** The worker's settings, from its one argument. */
export const settings = <S extends WorkerSettings>(): S => JSON.parse(process.argv[2] ?? "{}") as S

/** Reports one fact to the test. */
export const emit = (type: string, fields: Record<string, unknown> = {}): void => {
  process.stdout.write(`@@${JSON.stringify({ type, ...fields })}\n`)
}

/** The payload of every scenario's events: `n` numbers them; `work` says what the handler does with it. */
export const Tick = Schema.Struct({
  n: Schema.Int,
  work: Schema.optionalWith(Schema.Literal("normal", "fail", "slow", "hang", "long"), { default: () => "normal" })
})

/** The event `evt.<domain>.tick` of the scenario's stream. */
export const tickEvent = (stream: string) => {
  const definition = Streams.make(stream)
  return { stream: definition, tick: Events.event(`${definition.domain}.tick`, Tick, { stream: definition }) }
}

/** A JetStream Bus on the scenario's servers, its stream file-stored with the scenario's replicas and window. */
export const busLayer = (s: WorkerSettings) =>
  JetStream.layer({
    servers: s.servers,
    user: Option.none(),
    password: Option.none(),
    token: Option.none(),
    serviceName: s.service,
    appEnv: "test",
    streams: {
      ...BusConfig.defaultStreamLimits,
      replicas: s.replicas ?? 1,
      duplicateWindow: Duration.millis(s.duplicateWindowMs ?? 120_000)
    },
    publishTimeout: Duration.millis(s.publishTimeoutMs ?? 5_000),
    publishRetryBudget: Duration.millis(s.publishRetryBudgetMs ?? 60_000),
    ownStreams: Option.none(),
    ensureStreams: true,
    streamDefinitions: [tickEvent(s.stream).stream],
    drainTimeout: "5 seconds"
  })

/** A pool on the test-owned PostgreSQL. */
export const sqlLayer = (s: WorkerSettings, poolSize = 10) => {
  if (s.postgres === undefined) throw new Error("this worker needs settings.postgres")
  return Sql.layer({
    host: "127.0.0.1",
    port: s.postgres.port,
    database: s.postgres.database,
    user: s.postgres.user,
    poolSize,
    connectTimeout: "5 seconds",
    applicationName: s.service
  })
}

/** How an error reads in a report: its tag, code and whether it is retryable (never its message's secrets). */
export const describeError = (error: unknown) => ({
  tag: Errors.isGlamError(error) ? error._tag : String((error as { _tag?: unknown })._tag ?? "untagged"),
  code: Errors.isGlamError(error) ? error.code : undefined,
  retryable: Errors.ErrorMapping.isRetryable(error),
  message: error instanceof Error ? error.message : String(error)
})

/** Runs the worker's program until it ends or SIGTERM / SIGINT interrupts it (its layers then close). */
export const runWorker = <E, R, E2>(program: Effect.Effect<void, E, R>, layer: Layer.Layer<R, E2>): void =>
  NodeRuntime.runMain(program.pipe(Effect.provide(layer)), { disablePrettyLogger: true })
