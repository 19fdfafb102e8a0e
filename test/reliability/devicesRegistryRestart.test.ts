/**
 * Scenario, the device registry across a PostgreSQL restart: two registries (two instances of a service, each with its
 * own pool and MQTT client) on the test's own PostgreSQL, with `devices.registry_refresh` at an hour so that only the
 * registry's NOTIFY (channel `glam_devices_registry`) tells A of what B registers. PostgreSQL is restarted with
 * `pg_ctl restart -m immediate` (every backend killed, A's LISTEN connection too). A device B registers right after
 * the restart, and one B registers once A is seen LISTENing again, are subscribed on A, and every message published
 * on their topics reaches A's handler, as do those of a device registered before the restart. The shared Mosquitto
 * carries the messages, on topics and client ids of this run.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import * as mqtt from "mqtt"
import { afterAll, describe, expect, it } from "vitest"
import * as DeviceMigrations from "../../src/Devices/DeviceMigrations.js"
import * as Devices from "../../src/Devices/Devices.js"
import * as MqttClient from "../../src/Devices/MqttClient.js"
import * as Sql from "../../src/Sql/index.js"
import { waitFor } from "../support/natsServer.js"
import { serviceAvailable, services } from "../support/services.js"
import { toolAvailable } from "../support/tools.js"
import { withDb } from "./support/db.js"
import { type OwnPostgres, startPostgres } from "./support/postgres.js"
import { report } from "./support/report.js"

const ready = toolAvailable("initdb") && toolAvailable("pg_ctl") && await serviceAvailable("mosquitto")
const url = `mqtt://${services.mosquitto.host}:${services.mosquitto.port}`
const run = Math.random().toString(36).slice(2, 10)
const cleanup: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined)
})

/** Messages published on each device's topic. */
const perDevice = 10

/** One instance on `pg`: its registry (re-reading the registry every hour only) and its own MQTT client. */
const instance = async (pg: OwnPostgres, name: string, scope: Scope.Scope) => {
  const context = await Effect.runPromise(Layer.buildWithScope(
    Layer.scoped(
      Devices.Devices,
      Devices.make({ registryRefresh: "1 hour", heartbeatTimeout: "1 hour", topicPrefix: `reldevices${run}` })
    ).pipe(
      Layer.provideMerge(MqttClient.layer({ url, clientId: `reliability-${run}-${name}`, cleanSession: true })),
      Layer.provideMerge(Sql.layer({
        host: "127.0.0.1",
        port: pg.port,
        user: pg.user,
        database: pg.database,
        poolSize: 2,
        applicationName: `reliability-${name}`
      }))
    ),
    scope
  ))
  return { devices: Context.get(context, Devices.Devices), client: Context.get(context, MqttClient.MqttClient) }
}

/** The backend pid of the registry's LISTEN connection of instance `name`, 0 when there is none. */
const listener = (pg: OwnPostgres, name: string) =>
  withDb(pg, (sql) =>
    Effect.map(
      sql<{ pid: number }>`SELECT pid FROM pg_stat_activity
        WHERE application_name = ${`reliability-${name} devices listener`} AND query ILIKE 'LISTEN%'`,
      (rows) => rows[0]?.pid ?? 0
    )).catch(() => 0)

describe.skipIf(!ready)("reliability: device registry across a PostgreSQL restart", () => {
  it("PostgreSQL restarted with -m immediate: what B registers after it is handled on A, told by NOTIFY", async () => {
    const pg = await startPostgres()
    cleanup.push(pg.dispose)
    await withDb(pg, (sql) => Effect.provideService(DeviceMigrations.devicesMigration, SqlClient.SqlClient, sql))
    const scope = Effect.runSync(Scope.make())
    cleanup.push(() => Effect.runPromise(Scope.close(scope, Exit.void)))
    const a = await instance(pg, "a", scope)
    const b = await instance(pg, "b", scope)
    const got: Array<{ readonly device_id: string; readonly filter: string }> = []
    await Effect.runPromise(
      Scope.extend(a.devices.handleMessages((m) => Effect.sync(() => got.push(m))), scope)
    )
    const device = await mqtt.connectAsync(url, { clientId: `reliability-${run}-device` })
    cleanup.push(() => device.endAsync(true))
    const subscriptions = async () => (await Effect.runPromise(a.client.health)).subscriptions
    const baseline = await subscriptions()
    const handled = (id: string) => got.filter((m) => m.device_id === id).length

    let registered = 0
    let registerErrors = 0
    /** B registers a device with a topic, again after each failure (its pool reconnecting); A subscribes it. */
    const registerOnB = async (id: string) => {
      await waitFor(
        () =>
          Effect.runPromise(
            b.devices.register({ device_id: id, device_type: "meter", topics: [`rel${run}/${id}/data`] }).pipe(
              Effect.as(true),
              Effect.catchAll(() => Effect.sync(() => (registerErrors++, false)))
            )
          ),
        60_000,
        `B to register ${id}`
      )
      registered++
      await waitFor(async () => await subscriptions() === baseline + registered, 60_000, `A to subscribe ${id}'s topic`)
    }
    /** Publishes the device's messages (QoS 1), and waits for A to handle each. */
    const publish = async (id: string) => {
      for (let i = 0; i < perDevice; i++) {
        await device.publishAsync(`rel${run}/${id}/data`, JSON.stringify({ i }), { qos: 1 })
      }
      await waitFor(async () => handled(id) >= perDevice, 30_000, `A to handle ${id}'s messages`)
    }

    const ids = ["before", "racing", "after"].map((when) => `meter-${run}-${when}`)
    const [before, racing, after] = ids as [string, string, string]
    await waitFor(async () => await listener(pg, "a") !== 0, 30_000, "A LISTENing")
    const listenerBefore = await listener(pg, "a")
    await registerOnB(before)
    await publish(before)

    await pg.restart("immediate")
    // Right after the restart: A may not LISTEN yet; what it reads when it does holds this one.
    await registerOnB(racing)
    await publish(racing)
    await waitFor(async () => await listener(pg, "a") !== 0, 60_000, "A LISTENing again")
    const listenerAfter = await listener(pg, "a")
    // Once A LISTENs again: its NOTIFY tells A.
    await registerOnB(after)
    await publish(after)

    const counts = ids.map(handled)
    const total = counts.reduce((x, y) => x + y, 0)
    report("devices-registry-restart", {
      sent: perDevice * ids.length,
      stored: perDevice * ids.length,
      handled: total,
      lost: counts.reduce((x, n) => x + Math.max(0, perDevice - n), 0),
      duplicates: counts.reduce((x, n) => x + Math.max(0, n - perDevice), 0),
      "devices registered on B": registered,
      "B register errors": registerErrors,
      "handled per device (before/racing/after)": counts.join("/"),
      "A re-LISTENed": listenerAfter !== listenerBefore ? "yes" : "no"
    })
    expect(listenerAfter).not.toBe(listenerBefore)
    expect(counts.every((n) => n >= perDevice)).toBe(true)
    expect(got.every((m) => ids.includes(m.device_id))).toBe(true)
  })
})
