/**
 * The database store of received QoS 2 messages: MQTT.js's incoming store (`IStore`) on PostgreSQL, so that a QoS 2
 * message the client acknowledged with PUBREC outlives the process until it is handled.
 *
 * MQTT.js puts a QoS 2 PUBLISH in its incoming store and sends PUBREC when the put calls back; at PUBREL it gets the
 * message from the store, hands it to `handleMessage`, deletes it and sends PUBCOMP. It ignores the error of a put,
 * and answers a get that fails with PUBCOMP. So a put or a get that fails for a database error never calls back:
 * the connection is ended instead (redelivery.ts), and the broker sends the PUBLISH (without PUBREC) or the PUBREL
 * (without PUBCOMP) again in the next connection of the session. A get that finds nothing calls back with an error,
 * and MQTT.js sends PUBCOMP: the message is handled and deleted already, only its PUBCOMP lost on the way.
 *
 * The operations run one at a time in the order MQTT.js asks for them (a queue and one fiber), so a delete and the
 * put of a new message that reuses the id are never reordered. A CONNACK of a new session (no session present)
 * deletes the client id's rows: the broker has no PUBREL left to send for them.
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type * as mqtt from "mqtt"
import { Readable } from "node:stream"
import { mapSqlErrors } from "../../Sql/internal/sqlErrors.js"
import { withLabels } from "../../Telemetry/Metrics.js"
import { describeFailure } from "./clientFailures.js"
import type { Connection } from "./connection.js"
import { shownTopic } from "./dispatch.js"
import { mqttQos2StoreFailures } from "./metrics.js"
import * as Redelivery from "./redelivery.js"

/** The table of the store. */
export const table = "mqtt_qos2_messages"

/** The DDL of the store's table: a row per received QoS 2 message not yet released, keyed by client id and id. */
export const ddl = `CREATE TABLE IF NOT EXISTS ${table} (
  client_id text NOT NULL,
  message_id integer NOT NULL,
  topic text NOT NULL,
  payload bytea NOT NULL,
  retain boolean NOT NULL,
  dup boolean NOT NULL,
  properties jsonb,
  stored_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT pk_${table} PRIMARY KEY (client_id, message_id)
);`

/** The store operation that failed, as the `operation` label of `mqtt_qos2_store_failures_total` names it. */
type Operation = "put" | "get" | "delete" | "clear"

interface Row {
  readonly message_id: number
  readonly topic: string
  readonly payload: Uint8Array
  readonly retain: boolean
  readonly dup: boolean
  readonly properties: { readonly subscriptionIdentifier?: ReadonlyArray<number> } | null
}

/** The MQTT 5 properties the dispatch reads of a received message: its subscription identifiers. */
const storedProperties = (packet: mqtt.IPublishPacket): string | null => {
  const named = packet.properties?.subscriptionIdentifier
  if (named === undefined) return null
  return JSON.stringify({ subscriptionIdentifier: Array.isArray(named) ? named : [named] })
}

const toPacket = (row: Row): mqtt.IPublishPacket => ({
  cmd: "publish",
  messageId: row.message_id,
  topic: row.topic,
  payload: Buffer.from(row.payload),
  qos: 2,
  retain: row.retain,
  dup: row.dup,
  ...(row.properties?.subscriptionIdentifier === undefined
    ? {}
    : { properties: { subscriptionIdentifier: [...row.properties.subscriptionIdentifier] } })
})

/** The store, and `follow`, which ties it to the connection it serves (its CONNACKs, its redelivery). */
export interface Qos2Store {
  readonly store: mqtt.IStore
  readonly follow: (connection: Connection) => void
}

/** Whether the store's table can be read: fails with the database's failure (no table, the database down). */
export const check = (sql: SqlClient.SqlClient) =>
  sql.unsafe(`SELECT 1 FROM ${table} LIMIT 0`).raw.pipe(mapSqlErrors({ operation: "mqtt.qos2_store.check", table }))

/**
 * The store of the client id's QoS 2 messages on the database of `sql`; its operations run until the scope closes
 * (open it before the MQTT.js client, so that they run until the client has ended).
 */
export const make = (sql: SqlClient.SqlClient, clientId: string): Effect.Effect<Qos2Store, never, Scope.Scope> =>
  Effect.gen(function*() {
    const operations = yield* Queue.unbounded<() => Effect.Effect<void>>()
    // Built and run in the fiber, so that nothing thrown reaches MQTT.js's packet handling or ends the fiber.
    yield* Effect.forkScoped(
      Effect.forever(Effect.flatMap(Queue.take(operations), (operation) =>
        Effect.suspend(operation).pipe(
          Effect.catchAllCause((cause) =>
            Effect.logError(`Devices: a QoS 2 store operation failed: ${describeFailure(cause)}`)
          )
        )))
    )
    let connection: Connection | undefined
    const run = (operation: () => Effect.Effect<void>) => {
      Queue.unsafeOffer(operations, operation)
    }
    /** Calls MQTT.js back; a throw of its own is logged, never ends the store. */
    const callBack = (f: () => void) =>
      Effect.try(f).pipe(
        Effect.catchAll((e) => Effect.logError(`Devices: MQTT.js failed after a QoS 2 store operation: ${e.error}`))
      )
    const count = (operation: Operation) => Metric.increment(withLabels(mqttQos2StoreFailures, { operation }))
    /**
     * A put or get that failed: counted, and the connection ended without calling MQTT.js back, so the broker sends
     * the packet again in the next connection of the session (once the outage's backoff has passed).
     */
    const failed = (operation: Operation, what: string, cause: Cause.Cause<unknown>) =>
      Effect.zipRight(
        count(operation),
        Effect.suspend(() => {
          const c = connection
          if (c === undefined || c.state.closing) {
            return Effect.logWarning(`Devices: the QoS 2 store cannot ${what}: ${describeFailure(cause)}`)
          }
          c.state.redelivery.pausing = true
          return Redelivery.start(c, `the QoS 2 store cannot ${what} (${describeFailure(cause)})`)
        })
      )
    /** A delete that failed leaves a row the next put of its id replaces, or the next new session deletes. */
    const leftOver = (operation: Operation, what: string) => (cause: Cause.Cause<unknown>) =>
      Effect.zipRight(
        count(operation),
        Effect.logWarning(`Devices: the QoS 2 store cannot ${what}: ${describeFailure(cause)}; its row is left`)
      )
    const store: mqtt.IStore = {
      put(packet, cb) {
        if (packet.cmd !== "publish") {
          run(() => callBack(() => cb()))
          return store
        }
        const what = `keep message ${packet.messageId} on ${shownTopic(packet.topic)}`
        run(() =>
          sql.unsafe(
            `INSERT INTO ${table} (client_id, message_id, topic, payload, retain, dup, properties)
              VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
              ON CONFLICT (client_id, message_id) DO UPDATE SET topic = EXCLUDED.topic, payload = EXCLUDED.payload,
                retain = EXCLUDED.retain, dup = EXCLUDED.dup, properties = EXCLUDED.properties, stored_at = now()`,
            [
              clientId,
              packet.messageId ?? 0,
              packet.topic,
              typeof packet.payload === "string" ? Buffer.from(packet.payload, "utf8") : packet.payload,
              packet.retain,
              packet.dup,
              storedProperties(packet)
            ]
          ).raw.pipe(
            mapSqlErrors({ operation: "mqtt.qos2_store.put", table }),
            Effect.matchCauseEffect({
              onFailure: (cause) => failed("put", what, cause),
              onSuccess: () => callBack(() => cb())
            })
          )
        )
        return store
      },
      get(packet, cb) {
        const what = `read message ${packet.messageId}`
        run(() =>
          sql.unsafe<Row>(
            `SELECT message_id, topic, payload, retain, dup, properties FROM ${table}
              WHERE client_id = $1 AND message_id = $2`,
            [clientId, packet.messageId ?? 0]
          ).withoutTransform.pipe(
            mapSqlErrors({ operation: "mqtt.qos2_store.get", table }),
            Effect.matchCauseEffect({
              onFailure: (cause) => failed("get", what, cause),
              onSuccess: ([row]) =>
                callBack(() => row === undefined ? cb(new Error("missing packet")) : cb(undefined, toPacket(row)))
            })
          )
        )
        return store
      },
      del(packet, cb) {
        run(() =>
          sql.unsafe(`DELETE FROM ${table} WHERE client_id = $1 AND message_id = $2`, [
            clientId,
            packet.messageId ?? 0
          ]).raw.pipe(
            mapSqlErrors({ operation: "mqtt.qos2_store.delete", table }),
            Effect.matchCauseEffect({
              onFailure: leftOver("delete", `delete message ${packet.messageId}`),
              onSuccess: () => callBack(() => cb())
            })
          )
        )
        return store
      },
      // MQTT.js reads a stream of the outgoing store only.
      createStream: () => Readable.from([]) as unknown as ReturnType<mqtt.IStore["createStream"]>,
      close: (cb) => cb()
    }
    const clear = sql.unsafe(`DELETE FROM ${table} WHERE client_id = $1`, [clientId]).raw.pipe(
      mapSqlErrors({ operation: "mqtt.qos2_store.clear", table }),
      Effect.matchCauseEffect({
        onFailure: leftOver("clear", "delete the messages of an earlier session"),
        onSuccess: () => Effect.void
      })
    )
    return {
      store,
      follow: (c) => {
        connection = c
        // Emitted as the packet is read, before it is handled and before the packets after it: the rows are deleted
        // before a put of the new session.
        c.client.on("packetreceive", (packet) => {
          if (packet.cmd !== "connack" || packet.sessionPresent) return
          if ((packet.returnCode ?? packet.reasonCode ?? 0) !== 0) return
          run(() => clear)
        })
      }
    }
  })
