/**
 * The second run of a service with a persistent session (a stable client id), started while a message the broker
 * queued for it waits for a subscription: what subscriptions made at a resumed start meet.
 */
import { Effect, Redacted, type Scope } from "effect"
import * as mqtt from "mqtt"
import type { MqttError } from "../../src/Devices/DeviceErrors.js"
import * as MqttClient from "../../src/Devices/MqttClient.js"
import { unique } from "../fixtures/devices/conformance.js"
import { eventually } from "./eventually.js"
import { startMosquitto } from "./mosquittoServer.js"
import { recordingProxy } from "./mqttRecordingProxy.js"

/** A device's client; it disconnects when the scope closes. */
export const device = (brokerUrl: string, protocolVersion: 4 | 5 = 4) =>
  Effect.acquireRelease(
    Effect.promise(() => mqtt.connectAsync(brokerUrl, { clientId: unique("dev-"), protocolVersion })),
    (c) => Effect.promise(() => c.endAsync(true))
  )

/** The broker's URL in the options. */
const urlOf = (options: MqttClient.MqttClientOptions) =>
  Redacted.isRedacted(options.url) ? Redacted.value(options.url) : options.url

/**
 * The first run (`firstRun`, its scope closed, the broker's subscriptions kept) subscribed; the session, at
 * `brokerUrl`, ends with the scope.
 */
const firstRunDone = (
  options: MqttClient.MqttClientOptions,
  firstRun: (client: MqttClient.MqttClient) => Effect.Effect<unknown, MqttError, Scope.Scope>,
  brokerUrl: string
) =>
  Effect.gen(function*() {
    yield* Effect.scoped(Effect.flatMap(MqttClient.make(options), firstRun))
    yield* Effect.addFinalizer(() =>
      Effect.promise(() =>
        mqtt.connectAsync(brokerUrl, { clientId: options.clientId, clean: true }).then((c) => c.endAsync(true))
          .catch(() => undefined)
      )
    )
  })

/**
 * The client of the second run, after the first run (`firstRun`, its scope closed, the broker's subscriptions kept)
 * subscribed, with nothing queued meanwhile: a message the broker sends for a subscription of the first run waits for
 * one (`mqtt.resume_wait`). The session ends with the scope.
 */
export const resumedIdle = (
  options: MqttClient.MqttClientOptions,
  firstRun: (client: MqttClient.MqttClient) => Effect.Effect<unknown, MqttError, Scope.Scope>
) => Effect.zipRight(firstRunDone(options, firstRun, urlOf(options)), MqttClient.make(options))

/**
 * The first run (`firstRun`, its scope closed, the broker's subscriptions kept) subscribed, then a device published
 * the `queued` messages (`{"seq": n}`, QoS 1, in order) to `brokerUrl` (the options' URL unless given). Returns the
 * client of the second run once the first queued message waits for a subscription. The session ends with the scope.
 */
export const resumed = (
  options: MqttClient.MqttClientOptions,
  firstRun: (client: MqttClient.MqttClient) => Effect.Effect<unknown, MqttError, Scope.Scope>,
  queued: ReadonlyArray<readonly [topic: string, seq: number]>,
  brokerUrl = urlOf(options)
) =>
  Effect.gen(function*() {
    yield* firstRunDone(options, firstRun, brokerUrl)
    const publisher = yield* device(brokerUrl, options.protocolVersion ?? 4)
    for (const [topic, seq] of queued) {
      yield* Effect.promise(() => publisher.publishAsync(topic, JSON.stringify({ seq }), { qos: 1 }))
    }
    const client = yield* MqttClient.make(options)
    yield* eventually(client.health, (h) => h.held === 1, "the first queued message to wait for a subscription")
    return client
  })

/**
 * The client's connection through a proxy (`refusing`, `disconnect`: see `recordingProxy`) ends, and the broker's
 * session (at `brokerUrl`) with it: a clean connection of the client's id ends it while the proxy refuses the
 * client's. The proxy goes on refusing them: once `proxy.refusing.connections` is false, the client reconnects in a
 * new session.
 */
export const sessionEnded = (
  client: MqttClient.MqttClient,
  proxy: { readonly refusing: { connections: boolean }; readonly disconnect: () => void },
  brokerUrl: string,
  protocolVersion: 4 | 5
) =>
  Effect.gen(function*() {
    proxy.refusing.connections = true
    proxy.disconnect()
    yield* eventually(client.health, (h) => !h.connected, "the disconnection")
    yield* Effect.promise(() =>
      mqtt.connectAsync(brokerUrl, { clientId: client.clientId, clean: true, protocolVersion }).then((c) =>
        c.endAsync(true)
      )
    )
  })

/** A test-owned Mosquitto, stopped with the scope, and a recording proxy to it (`recordingProxy`). */
export const proxiedMosquitto = (protocolVersion: 4 | 5) =>
  Effect.gen(function*() {
    const server = yield* Effect.acquireRelease(
      Effect.promise(() => startMosquitto()),
      (s) => Effect.promise(() => s.dispose())
    )
    const proxy = yield* recordingProxy(server.port, protocolVersion)
    return { server, proxy }
  })
