/**
 * The metrics of MQTT devices: `mqtt_messages_received_total{topic_pattern,outcome}`,
 * `mqtt_messages_published_total{topic_pattern}`, `mqtt_connection_up`, `devices_online`,
 * `device_commands_total{outcome}` and `mqtt_qos2_store_failures_total{operation}`. Labels are patterns, never topics
 * (which hold device ids).
 *
 * @since 0.1.0
 */
export {
  /**
   * `device_commands_total{outcome}`.
   *
   * @since 0.1.0
   * @category metrics
   */
  deviceCommands,
  /**
   * `devices_online`.
   *
   * @since 0.1.0
   * @category metrics
   */
  devicesOnline,
  /**
   * `mqtt_connection_up`.
   *
   * @since 0.1.0
   * @category metrics
   */
  mqttConnectionUp,
  /**
   * `mqtt_messages_published_total{topic_pattern}`.
   *
   * @since 0.1.0
   * @category metrics
   */
  mqttMessagesPublished,
  /**
   * `mqtt_messages_received_total{topic_pattern,outcome}`.
   *
   * @since 0.1.0
   * @category metrics
   */
  mqttMessagesReceived,
  /**
   * `mqtt_qos2_store_failures_total{operation}`.
   *
   * @since 0.2.0
   * @category metrics
   */
  mqttQos2StoreFailures
} from "./internal/metrics.js"

export type {
  /**
   * How a command ended.
   *
   * @since 0.1.0
   * @category models
   */
  CommandOutcome,
  /**
   * What became of a received message.
   *
   * @since 0.1.0
   * @category models
   */
  ReceiveOutcome
} from "./internal/metrics.js"
