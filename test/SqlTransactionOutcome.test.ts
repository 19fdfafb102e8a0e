/**
 * A COMMIT lost with the connection has an unknown outcome. A proxy between the client and the real PostgreSQL
 * drops the connection at the COMMIT: once after forwarding it (the server commits, the answer is lost) and once
 * before (nothing commits). The client cannot tell the two apart, and says so with a typed error.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, layer } from "@effect/vitest"
import { Cause, ConfigProvider, Effect, Exit, Layer, Option } from "effect"
import { randomUUID } from "node:crypto"
import * as net from "node:net"
import { isRetryable } from "../src/Errors/ErrorMapping.js"
import { ConflictError, TransactionOutcomeUnknownError } from "../src/Errors/Errors.js"
import * as Sql from "../src/Sql/index.js"
import { serviceAvailable, services } from "./support/services.js"

const pgUp = await serviceAvailable("postgres")

type Drop = "after-commit" | "before-commit"

interface CommitProxy {
  readonly port: number
  /**
   * Drops the connection at the next COMMIT a client sends: `after-commit` forwards the COMMIT, closes the client's
   * side and resolves once the server has answered (it has committed); `before-commit` closes both sides without
   * forwarding it and resolves then.
   */
  readonly dropAtNextCommit: (drop: Drop) => Promise<void>
  readonly close: () => Promise<void>
}

const SSL_REQUEST = 80877103

/** Whether a frontend message is a COMMIT: a simple query, or the parse step of an extended one. */
const isCommit = (type: number, body: Buffer): boolean => {
  if (type !== 0x51 /* Q */ && type !== 0x50 /* P */) return false
  // Parse: a statement name (NUL-terminated) before the text.
  const text = type === 0x51 ? body : body.subarray(body.indexOf(0) + 1)
  const end = text.indexOf(0)
  return text.subarray(0, end === -1 ? text.length : end).toString("utf8").trim().toUpperCase() === "COMMIT"
}

/** A TCP proxy to the real server that reads the frontend protocol to find COMMIT messages. */
const startProxy = (): Promise<CommitProxy> =>
  new Promise((resolve, reject) => {
    let armed: { readonly drop: Drop; readonly done: () => void } | undefined
    const sockets = new Set<net.Socket>()
    const server = net.createServer((client) => {
      const upstream = net.connect({ host: services.postgres.host, port: services.postgres.port })
      sockets.add(client)
      sockets.add(upstream)
      client.on("close", () => sockets.delete(client))
      upstream.on("close", () => sockets.delete(upstream))
      client.on("error", () => undefined)
      upstream.on("error", () => undefined)
      let answerLost: (() => void) | undefined
      upstream.on("data", (chunk) => {
        if (answerLost !== undefined) {
          const done = answerLost
          answerLost = undefined
          upstream.end()
          done()
        } else if (!client.destroyed) client.write(chunk)
      })
      upstream.on("end", () => client.end())
      let pending = Buffer.alloc(0)
      let started = false
      client.on("data", (chunk) => {
        pending = Buffer.concat([pending, chunk])
        for (;;) {
          if (!started) {
            if (pending.length < 8) return
            const length = pending.readInt32BE(0)
            if (pending.length < length) return
            started = !(length === 8 && pending.readInt32BE(4) === SSL_REQUEST)
            upstream.write(pending.subarray(0, length))
            pending = pending.subarray(length)
            continue
          }
          if (pending.length < 5) return
          const length = pending.readInt32BE(1) + 1
          if (pending.length < length) return
          const message = pending.subarray(0, length)
          pending = pending.subarray(length)
          const trap = armed
          if (trap !== undefined && isCommit(message[0]!, message.subarray(5))) {
            armed = undefined
            if (trap.drop === "after-commit") {
              answerLost = trap.done
              upstream.write(message)
              client.destroy()
            } else {
              client.destroy()
              upstream.destroy()
              trap.done()
            }
            return
          }
          upstream.write(message)
        }
      })
      client.on("end", () => upstream.end())
    })
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      resolve({
        port: typeof address === "object" && address !== null ? address.port : 0,
        dropAtNextCommit: (drop) => new Promise<void>((done) => (armed = { drop, done })),
        close: () =>
          new Promise<void>((closed) => {
            for (const socket of sockets) socket.destroy()
            server.close(() => closed())
          })
      })
    })
  })

const database = { host: services.postgres.host, port: services.postgres.port, user: services.postgres.user }
const table = `commit_outcome_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
const quiet = Layer.setConfigProvider(ConfigProvider.fromJson({ app_env: "test" }))
const direct = Sql.layer({ ...database, database: services.postgres.database }).pipe(Layer.provide(quiet))

const rowsWith = (id: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ readonly n: number }>`
    SELECT count(*)::int AS n FROM ${sql(table)} WHERE id = ${id}`).pipe(
      Effect.map((rows) => rows[0]!.n)
    )

/** Runs `transaction` on a client behind the proxy. */
const throughProxy = <A, E>(proxy: CommitProxy, transaction: Effect.Effect<A, E, SqlClient.SqlClient>) =>
  transaction.pipe(
    Effect.exit,
    Effect.provide(
      Sql.layer({ ...database, port: proxy.port, database: services.postgres.database, poolSize: 1 }).pipe(
        Layer.provide(quiet)
      )
    )
  )

/** A transaction inserting one row; `onAttempt` runs in its body, once per attempt. */
const insertIn = (id: string, onAttempt: Effect.Effect<void> = Effect.void) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => Effect.zipRight(onAttempt, sql`INSERT INTO ${sql(table)} (id) VALUES (${id})`)
  ).pipe(Sql.transaction())

const failureOf = <A, E>(exit: Exit.Exit<A, E>): unknown =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

const withProxy = <A, E, R>(use: (proxy: CommitProxy) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(Effect.promise(startProxy), use, (proxy) => Effect.promise(() => proxy.close()))

/** A client of the real server, and the suite's two tables on it, dropped when the suite ends. */
const tables = Layer.scopedDiscard(
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.acquireRelease(
      Effect.zipRight(
        sql`CREATE TABLE ${sql(table)} (id text PRIMARY KEY)`,
        sql`CREATE TABLE ${sql(`${table}_deferred`)} (
          id text CONSTRAINT ${sql(`${table}_deferred_uq`)} UNIQUE DEFERRABLE INITIALLY DEFERRED)`
      ),
      () =>
        Effect.orDie(Effect.zipRight(
          sql`DROP TABLE IF EXISTS ${sql(table)}`,
          sql`DROP TABLE IF EXISTS ${sql(`${table}_deferred`)}`
        ))
    ))
)

/** Runs a transaction behind a proxy that drops the connection at its COMMIT; its failure, once the proxy is done. */
const droppedAtCommit = <A, E>(drop: Drop, transaction: Effect.Effect<A, E, SqlClient.SqlClient>) =>
  withProxy((proxy) =>
    Effect.gen(function*() {
      const done = proxy.dropAtNextCommit(drop)
      const exit = yield* throughProxy(proxy, transaction)
      yield* Effect.promise(() => done)
      return failureOf(exit)
    })
  )

describe.skipIf(!pgUp)("a COMMIT lost with the connection", () => {
  layer(Layer.provideMerge(tables, direct), { excludeTestServices: true })((it) => {
    it.effect("that reached the server: TransactionOutcomeUnknownError, and the row IS committed", () =>
      Effect.gen(function*() {
        const id = randomUUID()
        const error = yield* droppedAtCommit("after-commit", insertIn(id))
        expect(error).toBeInstanceOf(TransactionOutcomeUnknownError)
        expect(error).toMatchObject({
          code: "TRANSACTION_OUTCOME_UNKNOWN",
          status: 500,
          retryable: false,
          details: { operation: "transaction" }
        })
        expect(isRetryable(error)).toBe(false)
        expect(yield* rowsWith(id)).toBe(1)
      }))

    it.effect("that never reached it: the same error (the client cannot know), and nothing is committed", () =>
      Effect.gen(function*() {
        const id = randomUUID()
        expect(yield* droppedAtCommit("before-commit", insertIn(id))).toBeInstanceOf(TransactionOutcomeUnknownError)
        expect(yield* rowsWith(id)).toBe(0)
      }))

    it.effect("is never retried by Sql.transaction: the body ran once", () =>
      Effect.gen(function*() {
        let attempts = 0
        const counted = insertIn(randomUUID(), Effect.sync(() => attempts++))
        expect(yield* droppedAtCommit("before-commit", counted)).toBeInstanceOf(TransactionOutcomeUnknownError)
        expect(attempts).toBe(1)
      }))

    it.effect("a COMMIT the server answers with an error is a definite rollback, classified as before", () =>
      withProxy((proxy) =>
        Effect.gen(function*() {
          const deferred = `${table}_deferred`
          const id = randomUUID()
          // The unique check runs at COMMIT, which the server refuses.
          const exit = yield* throughProxy(
            proxy,
            Effect.flatMap(SqlClient.SqlClient, (sql) =>
              Effect.zipRight(
                sql`INSERT INTO ${sql(deferred)} (id) VALUES (${id})`,
                sql`INSERT INTO ${sql(deferred)} (id) VALUES (${id})`
              )).pipe(Sql.transaction())
          )
          expect(failureOf(exit)).toBeInstanceOf(ConflictError)
          const count = yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
            sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM ${sql(deferred)}`)
          expect(count[0]!.n).toBe(0)
        })
      ))
  })
})
