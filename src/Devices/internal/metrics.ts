/**
 * The metrics of MQTT devices (re-exported by `DeviceMetrics`).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import { withLabels } from "../../Telemetry/Metrics.js"

/**
 * What became of a received message: `handled`, `invalid` (its payload did not decode), `failed` (its handler
 * failed, and the message was acknowledged), `unmatched` (no subscription of this process matches its topic),
 * `redelivered` (its handler failed retryably or ran out of time: the message was not acknowledged, and the broker
 * delivers it again; counted at each such delivery).
 *
 * @since 0.1.0
 * @category models
 */
export type ReceiveOutcome = "handled" | "invalid" | "failed" | "unmatched" | "redelivered"

/**
 * `mqtt_messages_received_total{topic_pattern,outcome}`: messages received, by the pattern of the subscription
 * that took them (never the topic itself, which holds ids) and outcome (counter).
 *
 * @since 0.1.0
 * @category metrics
 */
export const mqttMessagesReceived: Metric.Metric.Counter<number> = Metric.counter("mqtt_messages_received_total", {
  description: "MQTT messages received, by topic pattern and outcome",
  incremental: true
})

/**
 * `mqtt_qos2_store_failures_total{operation}`: operations of the database store of received QoS 2 messages that
 * failed (`put`, `get`: the connection is ended and the broker sends the packet again; `delete`, `clear`: a row is
 * left) (counter).
 *
 * @since 0.2.0
 * @category metrics
 */
export const mqttQos2StoreFailures: Metric.Metric.Counter<number> = Metric.counter("mqtt_qos2_store_failures_total", {
  description: "Failed operations of the MQTT client's database store of received QoS 2 messages, by operation",
  incremental: true
})

/**
 * `mqtt_messages_published_total{topic_pattern}`: messages the broker acknowledged (QoS 1 and 2) or that were
 * written (QoS 0) (counter).
 *
 * @since 0.1.0
 * @category metrics
 */
export const mqttMessagesPublished: Metric.Metric.Counter<number> = Metric.counter("mqtt_messages_published_total", {
  description: "MQTT messages published, by topic pattern",
  incremental: true
})

/**
 * `mqtt_connection_up`: 1 while the client is connected to its broker, else 0 (gauge).
 *
 * @since 0.1.0
 * @category metrics
 */
export const mqttConnectionUp: Metric.Metric.Gauge<number> = Metric.gauge("mqtt_connection_up", {
  description: "1 while the MQTT client is connected to its broker"
})

/**
 * `devices_online`: registered devices currently online (gauge).
 *
 * @since 0.1.0
 * @category metrics
 */
export const devicesOnline: Metric.Metric.Gauge<number> = Metric.gauge("devices_online", {
  description: "Registered devices currently online"
})

/**
 * How a command ended: `acknowledged`, `sent` (sent with `ack: "none"`: the broker has it, no answer is awaited),
 * `rejected`, `timeout`, `offline`, `invalid_ack` (its acknowledgement does not decode), `failed` (not sent).
 *
 * @since 0.1.0
 * @category models
 */
export type CommandOutcome = "acknowledged" | "sent" | "rejected" | "timeout" | "offline" | "invalid_ack" | "failed"

/**
 * `device_commands_total{outcome}`: commands sent to devices, by outcome (counter).
 *
 * @since 0.1.0
 * @category metrics
 */
export const deviceCommands: Metric.Metric.Counter<number> = Metric.counter("device_commands_total", {
  description: "Commands sent to devices, by outcome",
  incremental: true
})

/**
 * Records a received message.
 *
 * @since 0.1.0
 * @category metrics
 */
export const recordReceived = (topicPattern: string, outcome: ReceiveOutcome): Effect.Effect<void> =>
  Metric.increment(withLabels(mqttMessagesReceived, { topic_pattern: topicPattern, outcome }))

/**
 * Records a published message.
 *
 * @since 0.1.0
 * @category metrics
 */
export const recordPublished = (topicPattern: string): Effect.Effect<void> =>
  Metric.increment(withLabels(mqttMessagesPublished, { topic_pattern: topicPattern }))

/**
 * Records the end of a command.
 *
 * @since 0.1.0
 * @category metrics
 */
export const recordCommand = (outcome: CommandOutcome): Effect.Effect<void> =>
  Metric.increment(withLabels(deviceCommands, { outcome }))
