/**
 * The relay's LISTEN connection: a dedicated `pg` connection (not one of the pool's) that listens on the outbox
 * channel and calls back on each notification, until the connection is lost.
 *
 * @internal
 */
import type * as PgClient from "@effect/sql-pg/PgClient"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { DatabaseError } from "../../Errors/InfrastructureErrors.js"
import { channel } from "./outboxWrite.js"
import { Pg, type PgConnection } from "./pgDriver.js"
import { connectionSettings, messageOf } from "./pgPool.js"

const failure = (what: string, cause: unknown) =>
  new DatabaseError({
    message: `Outbox relay: ${what}: ${messageOf(cause)}`,
    details: { operation: "outbox.listen" },
    retryable: true,
    cause
  })

// The pool's connection, its explicit fields over its url's parts as the pool has them.
const connectionOptions = (config: PgClient.PgClientConfig): Record<string, unknown> =>
  connectionSettings({ ...config, user: config.username }, {
    connectionTimeoutMillis: Duration.toMillis(config.connectTimeout ?? "5 seconds"),
    application_name: `${config.applicationName ?? "@glam/shared"} outbox listener`
  })

/**
 * Connects, LISTENs, runs `onListening`, then calls `onNotification` for every notification on the outbox channel.
 * Never succeeds: fails with a retryable `DatabaseError` when the connection cannot be made or is lost.
 *
 * @internal
 */
export const listen = (
  config: PgClient.PgClientConfig,
  onNotification: () => void,
  onListening: Effect.Effect<void>
): Effect.Effect<never, DatabaseError> =>
  Effect.gen(function*() {
    const lost = yield* Deferred.make<never, DatabaseError>()
    const client = yield* Effect.acquireRelease(
      Effect.try({
        try: () => new Pg.Client(connectionOptions(config)) as PgConnection,
        // Without the cause: a url the parser refused may be in it, password and all.
        catch: (cause) =>
          new DatabaseError({
            message: `Outbox relay: the connection settings cannot be read: ${messageOf(cause)}`,
            details: { operation: "outbox.listen" },
            retryable: false
          })
      }).pipe(Effect.map((client) => {
        // Without an "error" listener a lost connection would crash the process.
        client.on("error", (error) =>
          Deferred.unsafeDone(lost, Exit.fail(failure("the LISTEN connection failed", error))))
        client.on("end", () =>
          Deferred.unsafeDone(lost, Exit.fail(failure("the LISTEN connection ended", "closed"))))
        client.on("notification", (message) => {
          if (message.channel === channel) onNotification()
        })
        return client
      })),
      (client) => Effect.promise(() => client.end()).pipe(Effect.timeoutOption("5 seconds"), Effect.ignore)
    )
    yield* Effect.tryPromise({
      try: async () => {
        await client.connect()
        await client.query(`LISTEN ${Pg.escapeIdentifier(channel)}`)
      },
      catch: (cause) => failure("LISTEN failed", cause)
    })
    yield* onListening
    return yield* Deferred.await(lost)
  }).pipe(Effect.scoped)
