/**
 * A LISTEN connection: a dedicated `pg` connection (not one of the pool's) that listens on a channel (the outbox
 * relay's, the device registry's) and calls back on each notification, until the connection is lost.
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

/** What a LISTEN connection is for: its channel, the subject of its errors and their operation, its name. */
export interface ListenTarget {
  readonly channel: string
  /** Starts its error messages (`Outbox relay`). */
  readonly label: string
  /** Its errors' `details.operation`. */
  readonly operation: string
  /** Its connection's `application_name` after the pool's (`outbox listener`). */
  readonly application: string
}

const outbox: ListenTarget = {
  channel,
  label: "Outbox relay",
  operation: "outbox.listen",
  application: "outbox listener"
}

const failure = (target: ListenTarget, what: string, cause: unknown) =>
  new DatabaseError({
    message: `${target.label}: ${what}: ${messageOf(cause)}`,
    details: { operation: target.operation },
    retryable: true,
    cause
  })

// The pool's connection, its explicit fields over its url's parts as the pool has them.
const connectionOptions = (config: PgClient.PgClientConfig, target: ListenTarget): Record<string, unknown> =>
  connectionSettings({ ...config, user: config.username }, {
    connectionTimeoutMillis: Duration.toMillis(config.connectTimeout ?? "5 seconds"),
    application_name: `${config.applicationName ?? "@glam/shared"} ${target.application}`
  })

/**
 * Connects, LISTENs on the target's channel, runs `onListening`, then calls `onNotification` for every notification
 * on it, with its payload (empty when the sender gave none). Never succeeds: fails with a retryable `DatabaseError`
 * when the connection cannot be made or is lost.
 *
 * @internal
 */
export const listenOn = (
  config: PgClient.PgClientConfig,
  target: ListenTarget,
  onNotification: (payload: string) => void,
  onListening: Effect.Effect<void>
): Effect.Effect<never, DatabaseError> =>
  Effect.gen(function*() {
    const lost = yield* Deferred.make<never, DatabaseError>()
    const client = yield* Effect.acquireRelease(
      Effect.try({
        try: () => new Pg.Client(connectionOptions(config, target)) as PgConnection,
        // Without the cause: a url the parser refused may be in it, password and all.
        catch: (cause) =>
          new DatabaseError({
            message: `${target.label}: the connection settings cannot be read: ${messageOf(cause)}`,
            details: { operation: target.operation },
            retryable: false
          })
      }).pipe(Effect.map((client) => {
        // Without an "error" listener a lost connection would crash the process.
        client.on("error", (error) =>
          Deferred.unsafeDone(lost, Exit.fail(failure(target, "the LISTEN connection failed", error))))
        client.on("end", () =>
          Deferred.unsafeDone(lost, Exit.fail(failure(target, "the LISTEN connection ended", "closed"))))
        client.on("notification", (message) => {
          if (message.channel === target.channel) {
            onNotification(message.payload ?? "")
          }
        })
        return client
      })),
      (client) =>
        Effect.promise(() =>
          client.end()
        ).pipe(Effect.timeoutOption("5 seconds"), Effect.ignore)
    )
    yield* Effect.tryPromise({
      try: async () => {
        await client.connect()
        await client.query(`LISTEN ${Pg.escapeIdentifier(target.channel)}`)
      },
      catch: (cause) => failure(target, "LISTEN failed", cause)
    })
    yield* onListening
    return yield* Deferred.await(lost)
  }).pipe(Effect.scoped)

/**
 * Listens on the outbox channel (see `listenOn`).
 *
 * @internal
 */
export const listen = (
  config: PgClient.PgClientConfig,
  onNotification: () => void,
  onListening: Effect.Effect<void>
): Effect.Effect<never, DatabaseError> => listenOn(config, outbox, onNotification, onListening)
