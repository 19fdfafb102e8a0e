/**
 * MQTT devices: typed topics, the MQTT client (MQTT.js, with an embedded aedes broker for development), the device
 * registry and its commands, and the bridge to the Bus.
 *
 * @since 0.1.0
 */

/**
 * The device registry service, its layers and main operations.
 *
 * @since 0.1.0
 */
export * from "./Devices.js"

/**
 * The bridge between device telemetry and commands and the Bus.
 *
 * @since 0.1.0
 */
export * as DeviceBridge from "./DeviceBridge.js"

/**
 * The tagged errors of MQTT devices.
 *
 * @since 0.1.0
 */
export * as DeviceErrors from "./DeviceErrors.js"

/**
 * The metrics of MQTT devices.
 *
 * @since 0.1.0
 */
export * as DeviceMetrics from "./DeviceMetrics.js"

/**
 * The `devices` table and its migration.
 *
 * @since 0.1.0
 */
export * as DeviceMigrations from "./DeviceMigrations.js"

/**
 * The MQTT client service.
 *
 * @since 0.1.0
 */
export * as MqttClient from "./MqttClient.js"

/**
 * The `mqtt` configuration section.
 *
 * @since 0.1.0
 */
export * as MqttConfig from "./MqttConfig.js"

/**
 * Typed MQTT topics.
 *
 * @since 0.1.0
 */
export * as MqttTopic from "./MqttTopic.js"
