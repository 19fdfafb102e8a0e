#!/usr/bin/env node
/**
 * `glam-migrate up|status|baseline`: what the seed's Alembic `MigrationManager` did (upgrade, current revision,
 * stamp), on `Sql.Migrations`. Migrations come from `--dir`; the database from the configuration (`config/*.yml`
 * and the environment, including the seed's `<SERVICE>_DB_HOST`... with `--service`).
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { formatConfigError, layer as configLayer } from "../Config/GlamConfigProvider.js"
import { redactUrlCredentials } from "../Config/Redaction.js"
import { DatabaseError } from "../Errors/InfrastructureErrors.js"
import {
  baseline,
  defaultMigrationsTable,
  fromDirectory,
  migrate,
  MigrationError,
  migrationStatus
} from "../Sql/Migrations.js"
import { layer as sqlLayer, optionsFromConfig } from "../Sql/Sql.js"
import { databaseConfig, hasServer } from "../Sql/SqlConfig.js"
import { driverError, sqlStateOf } from "../Sql/SqlErrors.js"
import { teardownOf } from "./internal/teardown.js"

const dir = Options.directory("dir", { exists: "yes" }).pipe(
  Options.withAlias("d"),
  Options.withDescription("Directory of <id>_<name>.sql|.js|.mjs|.ts migrations")
)
const table = Options.text("table").pipe(
  Options.withDefault(defaultMigrationsTable),
  Options.withDescription("Table recording the applied migrations")
)
const service = Options.text("service").pipe(
  Options.optional,
  Options.withDescription("Service name: reads config/services/<service>.yml and <SERVICE>_DB_* variables")
)
const envPrefix = Options.text("env-prefix").pipe(
  Options.optional,
  Options.withDescription("Prefix of the variables (CATALOG for CATALOG_DB_HOST); default: from --service")
)
const settings = { dir, table, service, envPrefix }

interface Settings {
  readonly service: Option.Option<string>
  readonly envPrefix: Option.Option<string>
}

const loadOptions = (settings: Settings) => ({
  ...Option.match(settings.service, { onNone: () => ({}), onSome: (service) => ({ service }) }),
  ...Option.match(settings.envPrefix, { onNone: () => ({}), onSome: (envPrefix) => ({ envPrefix }) })
})

const database = (settings: Settings) =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const config = yield* databaseConfig
    if (!hasServer(config)) {
      // Read as a required key, database.host's problem names the service file and the variables that set it.
      const missing = yield* Effect.flip(Config.nested(Config.string("host"), "database"))
      const unnamed = Option.isNone(settings.service) && Option.isNone(settings.envPrefix)
      return yield* new DatabaseError({
        message: `No database server configured: ${formatConfigError(missing)}, or set database.url` +
          (unnamed
            ? " (with neither --service nor GLAM_SERVICE, no service file and no prefixed variable is read;" +
              " --env-prefix names the variables' prefix)"
            : ""),
        details: { operation: "connect" },
        retryable: false
      })
    }
    return sqlLayer({ ...optionsFromConfig(config), applicationName: "glam-migrate" })
  })).pipe(Layer.provide(configLayer(loadOptions(settings))))

/**
 * The migrations of `dir`; none is an error naming it. A directory without a migration file is a wrong `--dir`
 * (the compiled service, say), which would otherwise be reported up to date.
 */
const migrationsOf = (dir: string) =>
  Effect.flatMap(fromDirectory(dir), (migrations) =>
    migrations.length > 0
      ? Effect.succeed(migrations)
      : Effect.fail(
        new MigrationError({
          reason: "failed",
          message: `${dir} holds no migration file (<id>_<name>.sql, .js, .mjs or .ts, such as 0001_create_items.sql)`
        })
      ))

const up = Command.make("up", settings, ({ dir, table, ...rest }) =>
  Effect.gen(function*() {
    const applied = yield* migrate({ loader: migrationsOf(dir), table })
    if (applied.length === 0) yield* Console.log("Already up to date")
    for (const [id, name] of applied) yield* Console.log(`applied ${id}_${name}`)
  }).pipe(Effect.provide(database(rest)))).pipe(Command.withDescription("Apply the pending migrations"))

const status = Command.make("status", settings, ({ dir, table, ...rest }) =>
  Effect.gen(function*() {
    const report = yield* migrationStatus({ loader: migrationsOf(dir), table })
    yield* Console.log(
      Option.match(report.current, {
        onNone: () => "current: none",
        onSome: (m) => `current: ${m.id}_${m.name} (applied ${m.createdAt.toISOString()})`
      })
    )
    for (const [id, name] of report.pending) yield* Console.log(`pending ${id}_${name}`)
    for (const [id, name] of report.blocked) {
      yield* Console.log(`blocked ${id}_${name}: at or below the current revision and not applied; give it a higher id`)
    }
    for (const [id, name] of report.edited) {
      yield* Console.log(
        `edited ${id}_${name}: its SQL changed after it was applied; up refuses to run until it is restored`
      )
    }
    for (const { column, table, tool, versions } of report.otherTools) {
      yield* Console.log(
        `${tool} ${table} (${column} ${versions === undefined ? "unreadable" : versions.join(", ") || "none"}): ` +
          "up refuses to run until glam-migrate baseline <id> records the migrations the database holds"
      )
    }
    if (report.pending.length === 0 && report.blocked.length === 0 && report.edited.length === 0) {
      yield* Console.log("Up to date")
    }
  }).pipe(Effect.provide(database(rest)))).pipe(
    Command.withDescription("Show the current revision and the pending migrations")
  )

const through = Args.text({ name: "id" }).pipe(
  Args.withDescription("The last migration the database already holds: its id (3, 0003) or <id>_<name> (3_outbox)"),
  Args.mapEffect((text) => {
    const match = text.match(/^(\d+)(?:_(.+))?$/)
    const id = match === null ? Number.NaN : Number(match[1])
    return Number.isSafeInteger(id)
      ? Effect.succeed({ id, name: match?.[2] })
      : Effect.fail(HelpDoc.p(`${JSON.stringify(text)} is not a migration id (3, 0003 or 3_outbox)`))
  })
)
const dryRun = Options.boolean("dry-run").pipe(Options.withDescription("Show what would be recorded, record nothing"))

const baselineCommand = Command.make(
  "baseline",
  { ...settings, through, dryRun },
  ({ dir, dryRun, table, through, ...rest }) =>
    Effect.gen(function*() {
      const loader = Effect.flatMap(migrationsOf(dir), (migrations) => {
        const named = migrations.find(([id]) => id === through.id)
        return through.name === undefined || named === undefined || named[1] === through.name
          ? Effect.succeed(migrations)
          : Effect.fail(
            new MigrationError({
              reason: "bad-state",
              message: `Migration ${through.id} is ${through.id}_${named[1]}, not ${through.id}_${through.name}: ` +
                "nothing was recorded"
            })
          )
      })
      const recorded = yield* baseline({ loader, table, through: through.id, dryRun })
      for (const [id, name] of recorded) {
        yield* Console.log(`${dryRun ? "would record" : "recorded"} ${id}_${name} (not run)`)
      }
    }).pipe(Effect.provide(database(rest)))
).pipe(
  Command.withDescription(
    "Record the migrations up to <id> as applied without running them, for a database that holds their schema " +
      "(one Alembic, Flyway, Django... migrated)"
  )
)

const command = Command.make("glam-migrate").pipe(
  Command.withDescription("Database migrations of a GLAM service"),
  Command.withSubcommands([up, status, baselineCommand])
)

const cli = Command.run(command, { name: "glam-migrate", version: "0.1.0" })

const messageOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error
    ? String((error as { readonly message: unknown }).message)
    : String(error)

/**
 * What the server answered to the failure (`syntax error at or near "TABEL"`, `permission denied for schema
 * public`) with its SQLSTATE, found down the chain of causes; the typed error's own message names only the migration
 * or the operation. Credentials of a URL in it are hidden.
 */
const serverReason = (error: unknown): { readonly message: string; readonly state: string } | undefined => {
  let current: unknown = error
  for (let depth = 0; depth < 8 && typeof current === "object" && current !== null; depth++) {
    const state = sqlStateOf(current)
    if (state !== undefined) return { message: redactUrlCredentials(messageOf(driverError(current))), state }
    current = (current as { readonly cause?: unknown }).cause
  }
  return undefined
}

const describe = (error: unknown): string => {
  if (ConfigError.isConfigError(error)) return formatConfigError(error)
  const message = messageOf(error)
  const reason = serverReason(error)
  if (reason === undefined) return message
  return message.includes(reason.message)
    ? `${message} (SQLSTATE ${reason.state})`
    : `${message}: ${reason.message} (SQLSTATE ${reason.state})`
}

cli(process.argv).pipe(
  // @effect/cli has printed its own usage errors; everything else gets one line on stderr and exit code 1, an
  // interruption exit code 130.
  Effect.tapError((error) =>
    ValidationError.isValidationError(error) ? Effect.void : Console.error(`glam-migrate: ${describe(error)}`)
  ),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    teardown: teardownOf(
      "glam-migrate",
      "the migrations of an unfinished run are not applied; glam-migrate status shows what is"
    )
  })
)
