/**
 * The MQTT client's options resolved with their defaults, and the MQTT.js options they make.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Redacted from "effect/Redacted"
import type * as mqtt from "mqtt"
import type { MqttClientOptions } from "../MqttClient.js"

/** The options with their defaults, secrets revealed for MQTT.js. */
export const resolve = (options: MqttClientOptions) => ({
  url: Redacted.isRedacted(options.url) ? Redacted.value(options.url) as string : options.url,
  clientId: options.clientId,
  username: options.username,
  password: options.password === undefined ? undefined : Redacted.value(options.password) as string,
  clean: options.cleanSession ?? false,
  protocolVersion: options.protocolVersion ?? 4,
  keepalive: options.keepalive ?? 60,
  connectTimeout: Duration.decode(options.connectTimeout ?? "10 seconds"),
  reconnectPeriod: Duration.decode(options.reconnectPeriod ?? "1 second"),
  publishTimeout: Duration.decode(options.publishTimeout ?? "10 seconds"),
  maxQueued: options.maxQueued ?? 1000,
  handlerTimeout: Duration.decode(options.handlerTimeout ?? "30 seconds"),
  resumeWait: Duration.decode(options.resumeWait ?? "5 seconds"),
  readinessGrace: Duration.decode(options.readinessGrace ?? Duration.zero),
  limits: { maxBytes: options.maxPayloadBytes ?? 256 * 1024, maxDepth: options.maxPayloadDepth ?? 32 },
  qos2Store: options.qos2Store ?? "memory",
  will: options.will
})

// The schemes MQTT.js connects with on Node.js.
const schemes = new Set(["mqtt:", "mqtts:", "tcp:", "tls:", "ssl:", "ws:", "wss:"])

/**
 * Why a broker URL is not one MQTT.js can connect to (never quoting it: it may carry credentials), or `undefined`.
 * A fragment is refused too: after a `#` in a password, the rest of the URL would be taken for one.
 */
export const invalidUrl = (url: string): string | undefined => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return url.trim().length === 0 ? "is empty" : "is not a URL (write `mqtt://host:1883`, credentials percent-encoded)"
  }
  if (!schemes.has(parsed.protocol)) {
    return `has the scheme ${
      JSON.stringify(parsed.protocol.slice(0, -1))
    }: expected mqtt, mqtts, ws, wss, tcp, tls or ssl`
  }
  if (parsed.hostname.length === 0) return "names no host"
  if (parsed.hash.length > 0) return "has a fragment (#): percent-encode a # in the credentials as %23"
  return undefined
}

/**
 * How the broker's URL is shown: `protocol//host:port`, with `***@` before the host when it carries credentials.
 * Built from the parsed URL, never from the text, so no spelling of a password (quotes, `<`, `@`, `:`) shows, nor a
 * path or query (a token may sit there).
 */
export const displayUrl = (url: string): string => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return "<an invalid URL>"
  }
  const userinfo = parsed.username.length > 0 || parsed.password.length > 0 ? "***@" : ""
  return `${parsed.protocol}//${userinfo}${parsed.host}`
}

/** The resolved options. */
export type Resolved = ReturnType<typeof resolve>

/** MQTT 5's session expiry interval that never ends a session: what an MQTT 3.1.1 persistent session is. */
const sessionNeverExpires = 0xFFFFFFFF

/**
 * MQTT.js's options: MQTT 3.1.1 or 5, connected by hand (`manualConnect`). Its renewal of subscriptions is off: the
 * client subscribes its filters again after a reconnection in a new session (subscriptions.ts, `renew`). MQTT.js's
 * keeps a map of the filters it sent, skips the SUBSCRIBE of a filter held there at the same QoS or a higher one, and
 * takes that map's key `resubscribe` for its flag, which drops a filter of that name.
 * `incomingStore` is the store of received QoS 2 messages (qos2Store.ts); without one MQTT.js keeps them in memory.
 * A persistent session over MQTT 5 needs a session expiry interval: without one the broker ends the session when
 * the connection does, and what devices publish meanwhile is lost.
 */
export const connectOptions = (o: Resolved, incomingStore?: mqtt.IStore): mqtt.IClientOptions => ({
  clientId: o.clientId,
  clean: o.clean,
  keepalive: o.keepalive,
  protocolVersion: o.protocolVersion,
  ...(o.protocolVersion === 5 && !o.clean ? { properties: { sessionExpiryInterval: sessionNeverExpires } } : {}),
  connectTimeout: Duration.toMillis(o.connectTimeout),
  reconnectPeriod: Math.max(1, Duration.toMillis(o.reconnectPeriod)),
  resubscribe: false,
  manualConnect: true,
  ...(o.username === undefined ? {} : { username: o.username }),
  ...(o.password === undefined ? {} : { password: o.password }),
  ...(incomingStore === undefined ? {} : { incomingStore }),
  ...(o.will === undefined ? {} : {
    will: { topic: o.will.topic, payload: o.will.payload, qos: o.will.qos ?? 1, retain: o.will.retain ?? false }
  })
})
