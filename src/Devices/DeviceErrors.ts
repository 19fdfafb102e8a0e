/**
 * The tagged errors of MQTT devices, in the catalogue's style (`code`, `status`, `retryable`, `details`): match them
 * with `Effect.catchTag(s)`; the HTTP layer answers them with their status and the API envelope.
 *
 * | error | code | status | retryable |
 * |---|---|---|---|
 * | `MqttError` | `MQTT_ERROR` | 503 | yes, unless the broker refused the client |
 * | `MqttQueueFullError` | `MQTT_QUEUE_FULL` | 503 | yes |
 * | `DeviceNotFoundError` | `DEVICE_NOT_FOUND` | 404 | no |
 * | `DeviceOfflineError` | `DEVICE_OFFLINE` | 503 | yes |
 * | `DeviceTimeoutError` | `DEVICE_TIMEOUT` | 504 | yes |
 * | `DeviceCommandRejectedError` | `DEVICE_COMMAND_REJECTED` | 422 | no |
 * | `DeviceAckInvalidError` | `DEVICE_ACK_INVALID` | 502 | no |
 * | `DeviceRecordInvalidError` | `DEVICE_RECORD_INVALID` | 500 | no |
 *
 * @since 0.1.0
 */
export {
  /**
   * A device answered a command with an acknowledgement that names it but does not decode.
   *
   * @since 0.1.0
   * @category errors
   */
  DeviceAckInvalidError,
  /**
   * A device acknowledged a command with `status: "error"`.
   *
   * @since 0.1.0
   * @category errors
   */
  DeviceCommandRejectedError,
  /**
   * No device is registered under the id.
   *
   * @since 0.1.0
   * @category errors
   */
  DeviceNotFoundError,
  /**
   * The device is offline, or went offline while a command waited.
   *
   * @since 0.1.0
   * @category errors
   */
  DeviceOfflineError,
  /**
   * A device's stored row does not decode through the registry's model.
   *
   * @since 0.2.0
   * @category errors
   */
  DeviceRecordInvalidError,
  /**
   * A command's acknowledgement did not arrive in time.
   *
   * @since 0.1.0
   * @category errors
   */
  DeviceTimeoutError,
  /**
   * An MQTT operation failed.
   *
   * @since 0.1.0
   * @category errors
   */
  MqttError,
  /**
   * A publish refused while disconnected with a full queue.
   *
   * @since 0.1.0
   * @category errors
   */
  MqttQueueFullError
} from "./internal/errors.js"
