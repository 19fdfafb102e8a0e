/**
 * What the client reports when its own Mosquitto (a password file and an ACL) refuses it: a wrong password fails
 * startup at once; what the ACL denies is silent over MQTT 3.1.1, as docs/Devices.md says.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Redacted, Schema } from "effect"
import * as MqttClient from "../src/Devices/MqttClient.js"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import { eventually, unique } from "./fixtures/devices/conformance.js"
import { type MosquittoServer, startMosquitto } from "./support/mosquittoServer.js"
import { toolAvailable } from "./support/tools.js"

const mosquittoFound = toolAvailable("mosquitto")

const Reading = Schema.Struct({ seq: Schema.Number })
const password = "s3cret-Pa55"

const broker = (acl: string) =>
  Effect.acquireRelease(
    Effect.promise(() => startMosquitto({ users: { svc: password, watcher: password }, acl })),
    (server: MosquittoServer) => Effect.promise(() => server.dispose())
  )

describe.skipIf(!mosquittoFound)("MqttClient refused by Mosquitto", () => {
  it.scopedLive(
    "a wrong password fails startup at once with a non-retryable MqttError, the password unsaid",
    () =>
      Effect.gen(function*() {
        const server = yield* broker("user svc\ntopic readwrite #\n")
        const wrong = "wr0ng-Pa55"
        const result = yield* Effect.either(MqttClient.make({
          url: server.url,
          clientId: unique("svc-"),
          username: "svc",
          password: Redacted.make(wrong),
          connectTimeout: "10 minutes"
        }))
        expect(Either.isLeft(result)).toBe(true)
        if (Either.isLeft(result)) {
          expect(result.left._tag).toBe("MqttError")
          expect(result.left.retryable).toBe(false)
          expect(result.left.message).toContain("refused the client")
          expect(JSON.stringify(result.left)).not.toContain(wrong)
        }
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "an ACL's denials over MQTT 3.1.1 are silent: a denied subscription is granted, a denied publish acknowledged",
    () =>
      Effect.gen(function*() {
        const root = unique("acl-")
        const server = yield* broker(`user svc\ntopic readwrite ${root}/ok/#\n\nuser watcher\ntopic readwrite #\n`)
        const Ok = MqttTopic.make(`${root}/ok/{id}`, Reading)
        const Denied = MqttTopic.make(`${root}/denied/{id}`, Reading)
        const connect = (username: string) =>
          MqttClient.make({
            url: server.url,
            clientId: unique(`${username}-`),
            username,
            password: Redacted.make(password),
            cleanSession: true
          })
        const svc = yield* connect("svc")
        const watcher = yield* connect("watcher")
        const seen: Array<string> = []
        const svcSeen: Array<string> = []
        yield* watcher.subscribe(MqttTopic.make(`${root}/#`, Reading), (m) => Effect.sync(() => seen.push(m.topic)))
        // Mosquitto checks read access when it delivers, not when it subscribes: the SUBACK grants the subscription.
        yield* svc.subscribe(Denied, (m) => Effect.sync(() => svcSeen.push(m.topic)))
        // Mosquitto drops a denied publish and acknowledges it as MQTT 3.1.1 has it, at every QoS.
        for (const qos of [0, 1, 2] as const) yield* svc.publish(Denied, { id: `q${qos}` }, { seq: qos }, { qos })
        yield* watcher.publish(Denied, { id: "from-watcher" }, { seq: 9 })
        yield* svc.publish(Ok, { id: "a" }, { seq: 1 })
        // The watcher receives in order: once the allowed message is there, the denied ones before it are not coming.
        yield* eventually(Effect.sync(() => seen), (topics) => topics.includes(`${root}/ok/a`), "the allowed message")
        expect(seen).toEqual([`${root}/denied/from-watcher`, `${root}/ok/a`])
        expect(svcSeen).toEqual([])
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "a publish the broker answers by closing the connection fails, is not sent again, and the connection comes back",
    () =>
      Effect.gen(function*() {
        // Mosquitto closes the connection of a client that sends a packet over its max_packet_size.
        const server = yield* Effect.acquireRelease(
          Effect.promise(() => startMosquitto({ config: ["max_packet_size 2000"] })),
          (s) => Effect.promise(() => s.dispose())
        )
        const root = unique("oversized-")
        const Text = MqttTopic.make(`${root}/{id}`, Schema.String, { encoding: "text" })
        const client = yield* MqttClient.make({
          url: server.url,
          clientId: unique("svc-"),
          cleanSession: true,
          reconnectPeriod: "100 millis",
          publishTimeout: "2 seconds"
        })
        const received: Array<string> = []
        yield* client.subscribe(Text, (m) => Effect.sync(() => received.push(m.payload)))
        const big = yield* Effect.either(client.publish(Text, { id: "big" }, "x".repeat(5000)))
        expect(Either.isLeft(big) && big.left._tag).toBe("MqttError")
        expect(Either.isLeft(big) && big.left.message).toContain("not sent again")
        // The connection comes back and stays: a publish after it is acknowledged and delivered (published again until
        // it is: on a clean session, one sent before the client has subscribed again reaches no one).
        yield* eventually(
          Effect.zipRight(Effect.either(client.publish(Text, { id: "small" }, "y")), Effect.sync(() => received)),
          (r) => r.includes("y"),
          "a publish after the oversized one delivered"
        )
        expect(received).not.toContain("x".repeat(5000))
        expect((yield* client.health).pending).toBe(0)
      }),
    { timeout: 120_000 }
  )
})
