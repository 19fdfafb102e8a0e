/**
 * The tagged errors of MQTT devices (re-exported by `DeviceErrors`).
 *
 * @internal
 */
import { DomainErrorClass, InfrastructureErrorClass, OptionalNumber, OptionalString } from "../../Errors/GlamError.js"

/**
 * An MQTT operation failed (`MQTT_ERROR`, 503): the broker could not be reached or refused the client, a publish
 * was not acknowledged in time, a subscription was refused, an MQTT 5 broker refused a publish. `details.broker` is
 * the broker's URL with its credentials hidden; `details.reason_code` is the MQTT 5 reason code of a refusal.
 *
 * @since 0.1.0
 * @category errors
 */
export class MqttError extends InfrastructureErrorClass<MqttError>()("MqttError", {
  code: "MQTT_ERROR",
  status: 503,
  message: "MQTT operation failed",
  details: { operation: OptionalString, topic: OptionalString, broker: OptionalString, reason_code: OptionalNumber },
  fixed: { service: "mqtt" }
}) {}

/**
 * A publish was refused while the client is disconnected because `mqtt.max_queued` messages already wait for the
 * connection (`MQTT_QUEUE_FULL`, 503, retryable): nothing was queued.
 *
 * @since 0.1.0
 * @category errors
 */
export class MqttQueueFullError extends InfrastructureErrorClass<MqttQueueFullError>()("MqttQueueFullError", {
  code: "MQTT_QUEUE_FULL",
  status: 503,
  message: "The MQTT client is disconnected and its queue is full",
  details: { topic: OptionalString, queued: OptionalNumber, limit: OptionalNumber },
  fixed: { service: "mqtt" }
}) {}

/**
 * No device is registered under this id (`DEVICE_NOT_FOUND`, 404).
 *
 * @since 0.1.0
 * @category errors
 */
export class DeviceNotFoundError extends DomainErrorClass<DeviceNotFoundError>()("DeviceNotFoundError", {
  code: "DEVICE_NOT_FOUND",
  status: 404,
  message: "Device not found",
  details: { device_id: OptionalString },
  fixed: { resource: "device" }
}) {}

/**
 * The device is offline (its last will, or no message within the heartbeat timeout), so a command was not sent, or
 * it went offline while a command waited for its acknowledgement (`DEVICE_OFFLINE`, 503, retryable).
 *
 * @since 0.1.0
 * @category errors
 */
export class DeviceOfflineError extends InfrastructureErrorClass<DeviceOfflineError>()("DeviceOfflineError", {
  code: "DEVICE_OFFLINE",
  status: 503,
  message: "Device is offline",
  details: { device_id: OptionalString, command: OptionalString, command_id: OptionalString },
  fixed: { service: "device" }
}) {}

/**
 * A command was sent but its acknowledgement did not arrive in time (`DEVICE_TIMEOUT`, 504, retryable). The device
 * may still run it: a retry sends it again with a new `command_id`.
 *
 * @since 0.1.0
 * @category errors
 */
export class DeviceTimeoutError extends InfrastructureErrorClass<DeviceTimeoutError>()("DeviceTimeoutError", {
  code: "DEVICE_TIMEOUT",
  status: 504,
  message: "Device did not acknowledge the command in time",
  details: {
    device_id: OptionalString,
    command: OptionalString,
    command_id: OptionalString,
    timeout_ms: OptionalNumber
  },
  fixed: { service: "device" }
}) {}

/**
 * The device answered a command with an acknowledgement that does not decode (`DEVICE_ACK_INVALID`, 502, not
 * retryable): it names the command's `command_id`, so the device received the command, but whether it ran it is
 * unknown. Not retried, since a retry would send the command again.
 *
 * @since 0.1.0
 * @category errors
 */
export class DeviceAckInvalidError extends InfrastructureErrorClass<DeviceAckInvalidError>()("DeviceAckInvalidError", {
  code: "DEVICE_ACK_INVALID",
  status: 502,
  message: "Device answered the command with an acknowledgement that cannot be read",
  retryable: false,
  details: { device_id: OptionalString, command: OptionalString, command_id: OptionalString, reason: OptionalString },
  fixed: { service: "device" }
}) {}

/**
 * The device acknowledged a command with `status: "error"` (`DEVICE_COMMAND_REJECTED`, 422): it will not run it.
 *
 * @since 0.1.0
 * @category errors
 */
export class DeviceCommandRejectedError
  extends DomainErrorClass<DeviceCommandRejectedError>()("DeviceCommandRejectedError", {
    code: "DEVICE_COMMAND_REJECTED",
    status: 422,
    message: "Device rejected the command",
    details: { device_id: OptionalString, command: OptionalString, command_id: OptionalString, reason: OptionalString }
  })
{}

/**
 * A device's row in the `devices` table does not decode through the registry's model (`DEVICE_RECORD_INVALID`, 500,
 * not retryable): written by other means, such as a NULL among its topics, a NULL type or an infinite timestamp.
 * `details.field` is the column, `details.reason` the decoding's (cut to 256 characters). `Devices.get` fails with it;
 * `Devices.list` reports it for each such row of its page, in `invalid`.
 *
 * @since 0.2.0
 * @category errors
 */
export class DeviceRecordInvalidError
  extends InfrastructureErrorClass<DeviceRecordInvalidError>()("DeviceRecordInvalidError", {
    code: "DEVICE_RECORD_INVALID",
    status: 500,
    message: "A device's stored row cannot be read",
    retryable: false,
    details: { device_id: OptionalString, field: OptionalString, reason: OptionalString },
    fixed: { service: "database" }
  })
{}
