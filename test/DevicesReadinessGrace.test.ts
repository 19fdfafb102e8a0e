/**
 * `mqtt.readiness_grace`: the MQTT readiness check fails only once the client has been disconnected for longer than
 * the grace, measured from when the connection was lost by the client's clock (the TestClock here, so the grace is
 * crossed by adjusting it, not by waiting); `health.status` says `reconnecting` at once. A test-owned mosquitto is
 * stopped and started under the client.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, TestClock, TestServices } from "effect"
import * as MqttClient from "../src/Devices/MqttClient.js"
import { unique } from "./fixtures/devices/conformance.js"
import { eventually } from "./support/eventually.js"
import { type MosquittoServer, startMosquitto } from "./support/mosquittoServer.js"
import { toolAvailable } from "./support/tools.js"

const mosquittoFound = toolAvailable("mosquitto")

const readiness = (client: MqttClient.MqttClient) =>
  Effect.exit(Effect.provideService(MqttClient.readinessCheck, MqttClient.MqttClient, client))

/** A test-owned broker and a client on it, with this grace (none: the default). */
const clientOnOwnBroker = (readinessGrace?: Duration.DurationInput) =>
  Effect.gen(function*() {
    const broker = yield* Effect.acquireRelease(
      Effect.promise(() => startMosquitto()),
      (s: MosquittoServer) => Effect.promise(() => s.dispose())
    )
    const client = yield* MqttClient.make({
      url: broker.url,
      clientId: unique("grace-"),
      reconnectPeriod: "100 millis",
      readinessGrace
    })
    expect(Exit.isSuccess(yield* readiness(client))).toBe(true)
    return { broker, client }
  })

/** Waits (in real time) until the client's status is `status`. */
const statusIs = (client: MqttClient.MqttClient, status: MqttClient.ConnectionStatus) =>
  TestServices.provideLive(eventually(client.health, (h) => h.status === status, `the client ${status}`))

describe.skipIf(!mosquittoFound)("MQTT readiness grace", () => {
  it.scoped(
    "a disconnection shorter than the grace keeps the client ready; a longer one fails readiness",
    () =>
      Effect.gen(function*() {
        const { broker, client } = yield* clientOnOwnBroker("30 seconds")

        yield* Effect.promise(() => broker.stop())
        yield* statusIs(client, "reconnecting")
        // Reconnecting, reported at once; still ready within the grace.
        const lost = yield* client.health
        expect(lost).toMatchObject({ status: "reconnecting", connected: false, ready: true })
        expect(Duration.toMillis(lost.disconnectedFor)).toBe(0)
        expect(Exit.isSuccess(yield* readiness(client))).toBe(true)
        yield* TestClock.adjust("29 seconds")
        expect(Exit.isSuccess(yield* readiness(client))).toBe(true)

        // Back within the grace: the next outage is measured afresh, the 29 seconds of this one not added to it.
        yield* Effect.promise(() => broker.start())
        yield* statusIs(client, "connected")
        expect(Duration.toMillis((yield* client.health).disconnectedFor)).toBe(0)
        yield* Effect.promise(() => broker.stop())
        yield* statusIs(client, "reconnecting")
        yield* TestClock.adjust("29 seconds")
        expect(Exit.isSuccess(yield* readiness(client))).toBe(true)

        // Past the grace: readiness fails, saying for how long.
        yield* TestClock.adjust("1 second")
        const failed = yield* readiness(client)
        expect(Exit.isFailure(failed)).toBe(true)
        expect(String(Exit.isFailure(failed) && failed.cause)).toContain("is reconnecting")
        expect(String(Exit.isFailure(failed) && failed.cause)).toContain("for 30s")
        expect(yield* client.health).toMatchObject({ status: "reconnecting", ready: false })

        yield* Effect.promise(() => broker.start())
        yield* statusIs(client, "connected")
        expect(Exit.isSuccess(yield* readiness(client))).toBe(true)
      }),
    { timeout: 60_000 }
  )

  it.scoped(
    "without a grace (the default) readiness fails as soon as the connection is lost",
    () =>
      Effect.gen(function*() {
        const { broker, client } = yield* clientOnOwnBroker()
        yield* Effect.promise(() => broker.stop())
        yield* statusIs(client, "reconnecting")
        expect(Exit.isFailure(yield* readiness(client))).toBe(true)
        yield* Effect.promise(() => broker.start())
        yield* statusIs(client, "connected")
        expect(Exit.isSuccess(yield* readiness(client))).toBe(true)
      }),
    { timeout: 60_000 }
  )
})
