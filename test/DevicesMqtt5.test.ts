/**
 * The client over MQTT 5 (`protocolVersion: 5`) on a Mosquitto of the test's own: a publish the ACL denies fails
 * with the broker's reason code, and a persistent session (asked with a session expiry interval) keeps the QoS 1
 * messages published while the service is away, across a broker restart; the broker's reason for ending a
 * connection is logged.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Logger, Redacted, Schema } from "effect"
import * as mqtt from "mqtt"
import * as MqttClient from "../src/Devices/MqttClient.js"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import { eventually, unique } from "./fixtures/devices/conformance.js"
import { type MosquittoServer, startMosquitto } from "./support/mosquittoServer.js"
import { toolAvailable } from "./support/tools.js"

const mosquittoFound = toolAvailable("mosquitto")

const Reading = Schema.Struct({ seq: Schema.Number })
const password = "s3cret-Pa55"

const broker = (acl?: string) =>
  Effect.acquireRelease(
    Effect.promise(() => startMosquitto(acl === undefined ? {} : { users: { svc: password, watcher: password }, acl })),
    (server: MosquittoServer) => Effect.promise(() => server.dispose())
  )

describe.skipIf(!mosquittoFound)("MqttClient over MQTT 5", () => {
  it.scopedLive(
    "a publish the ACL denies fails with a non-retryable MqttError naming the reason code; an allowed one succeeds",
    () =>
      Effect.gen(function*() {
        const root = unique("acl5-")
        const server = yield* broker(`user svc\ntopic readwrite ${root}/ok/#\n\nuser watcher\ntopic readwrite #\n`)
        const Ok = MqttTopic.make(`${root}/ok/{id}`, Reading)
        const Denied = MqttTopic.make(`${root}/denied/{id}`, Reading)
        const connect = (username: string) =>
          MqttClient.make({
            url: server.url,
            clientId: unique(`${username}-`),
            username,
            password: Redacted.make(password),
            cleanSession: true,
            protocolVersion: 5
          })
        const svc = yield* connect("svc")
        const watcher = yield* connect("watcher")
        const seen: Array<string> = []
        yield* watcher.subscribe(MqttTopic.make(`${root}/#`, Reading), (m) => Effect.sync(() => seen.push(m.topic)))
        for (const qos of [1, 2] as const) {
          const denied = yield* Effect.either(svc.publish(Denied, { id: `q${qos}` }, { seq: qos }, { qos }))
          expect(Either.isLeft(denied)).toBe(true)
          if (Either.isLeft(denied)) {
            expect(denied.left._tag).toBe("MqttError")
            expect(denied.left.retryable).toBe(false)
            expect(denied.left.details).toMatchObject({ operation: "publish", reason_code: 0x87 })
            expect(denied.left.message).toContain(`The MQTT broker refused the publish to ${root}/denied/q${qos}`)
            expect(denied.left.message).toContain("Not authorized")
            expect(JSON.stringify(denied.left)).not.toContain(password)
          }
        }
        // QoS 0 has no acknowledgement to carry a reason: it is written, and dropped.
        yield* svc.publish(Denied, { id: "q0" }, { seq: 0 }, { qos: 0 })
        yield* svc.publish(Ok, { id: "a" }, { seq: 1 })
        // The watcher receives in order: once the allowed message is there, the denied ones before it are not coming.
        yield* eventually(Effect.sync(() => seen), (topics) => topics.includes(`${root}/ok/a`), "the allowed message")
        expect(seen).toEqual([`${root}/ok/a`])
        expect((yield* svc.health).connected).toBe(true)
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "a persistent session keeps the QoS 1 messages published while the service is away, across a broker restart",
    () =>
      Effect.gen(function*() {
        const server = yield* broker()
        const root = unique("away5-")
        const Topic = MqttTopic.make(`${root}/{device_id}/data`, Reading)
        const options = { url: server.url, clientId: unique("svc-"), protocolVersion: 5 as const }
        const seen: Array<number> = []
        const record = (message: { readonly payload: typeof Reading.Type }) =>
          Effect.sync(() => seen.push(message.payload.seq))
        // The first run subscribes, then stops (a DISCONNECT): the broker keeps its session and queues what comes.
        yield* Effect.scoped(Effect.flatMap(MqttClient.make(options), (service) => service.subscribe(Topic, record)))
        const device = yield* Effect.acquireRelease(
          Effect.promise(() => mqtt.connectAsync(server.url, { clientId: unique("dev-"), protocolVersion: 5 })),
          (client) => Effect.promise(() => client.endAsync(true))
        )
        for (const seq of [1, 2, 3]) {
          yield* Effect.promise(() => device.publishAsync(`${root}/m/data`, JSON.stringify({ seq }), { qos: 1 }))
        }
        yield* Effect.promise(() => device.endAsync(true))
        // The broker saves its sessions when it stops, and reads them back when it starts.
        yield* Effect.promise(() => server.stop())
        yield* Effect.promise(() => server.start())
        const service = yield* MqttClient.make(options)
        yield* eventually(service.health, (h) => h.held === 1, "the first queued message to wait for a subscription")
        const subscription = yield* service.subscribe(Topic, record)
        yield* eventually(Effect.sync(() => seen.length), (n) => n === 3, "the queued messages")
        expect(seen).toEqual([1, 2, 3])
        yield* subscription.unsubscribe
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "the reason the broker gives for ending the connection is logged: a packet over its max_packet_size",
    () => {
      const lines: Array<string> = []
      const logger = Logger.map(Logger.logfmtLogger, (line) => {
        lines.push(line)
      })
      return Effect.gen(function*() {
        const server = yield* Effect.acquireRelease(
          Effect.promise(() => startMosquitto({ config: ["max_packet_size 2000"] })),
          (s: MosquittoServer) => Effect.promise(() => s.dispose())
        )
        const Text = MqttTopic.make(`${unique("big5-")}/{id}`, Schema.String, { encoding: "text" })
        const service = yield* MqttClient.make({
          url: server.url,
          clientId: unique("svc-"),
          protocolVersion: 5,
          cleanSession: true,
          reconnectPeriod: "100 millis",
          publishTimeout: "2 seconds"
        })
        // Not acknowledged: the broker ends the connection instead, saying why (MQTT 3.1.1 closes it without a word).
        const big = yield* Effect.either(service.publish(Text, { id: "big" }, "x".repeat(5000)))
        expect(Either.isLeft(big) && big.left._tag).toBe("MqttError")
        const said = yield* eventually(
          Effect.sync(() => lines.filter((line) => line.includes("ended the connection"))),
          (found) => found.length > 0,
          "the broker's reason logged"
        )
        expect(said[0]).toContain("level=WARN")
        expect(said[0]).toContain(
          `the MQTT broker ${server.url} ended the connection: Packet too large (reason code 0x95)`
        )
        yield* eventually(service.health, (h) => h.connected, "the connection back")
      }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    },
    { timeout: 60_000 }
  )
})
