/**
 * The bridge between devices and the Bus, both ways: device telemetry on an MQTT topic becomes Bus events, and Bus
 * commands become device commands.
 *
 * Telemetry is delivered at least once (a QoS 1 message is delivered again after a reconnect or a restart), so each
 * event is published with an idempotency key made of the device id, the topic and the payload's bytes (a SHA-256):
 * a replayed message is the same `Nats-Msg-Id`, which the Bus stores once within its duplicate window
 * (`nats.stream_duplicate_window`, 60 s). Two readings with the same bytes are one event: put a timestamp or a
 * sequence number in the payload, or choose the key (`idempotencyKey`).
 *
 * A retained message is sent again by the broker each time a subscription starts (every restart of the service),
 * however long ago it was published, and after the duplicate window it would be a new event: the bridge does not
 * publish a message the broker flags as retained, unless `retained: "publish"` (see {@link TelemetryOptions}).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { createHash } from "node:crypto"
import * as Bus from "../Bus/Bus.js"
import type { MessageBusError } from "../Errors/InfrastructureErrors.js"
import type * as EventDefinition from "../Events/Events.js"
import * as Devices from "./Devices.js"
import type { MqttError } from "./internal/errors.js"
import * as MqttClient from "./MqttClient.js"
import type * as MqttTopic from "./MqttTopic.js"

/**
 * Options of {@link telemetryToBus}.
 *
 * @since 0.1.0
 * @category models
 */
export interface TelemetryOptions<P extends string, A, B> {
  /**
   * The event's payload for a message. It may fail: a retryable failure is retried, then has the message delivered
   * again (as a Bus failure, see {@link telemetryToBus}); another is logged, and the message acknowledged.
   */
  readonly toEvent: (message: MqttClient.MqttMessage<P, A>) => B | Effect.Effect<B, unknown>
  /** The device a message comes from; default its `device_id` parameter. */
  readonly deviceId?: ((message: MqttClient.MqttMessage<P, A>) => string) | undefined
  /** The event's idempotency key; default {@link idempotencyKey} of the device, topic and payload. */
  readonly idempotencyKey?: ((message: MqttClient.MqttMessage<P, A>, deviceId: string) => string) | undefined
  readonly subscribe?: MqttClient.SubscribeOptions | undefined
  /**
   * What becomes of a message the broker flags as retained (`message.retain`): the copy of a topic's last retained
   * message it sends when a subscription starts, on every start of the service, however old. A message published
   * while the subscription exists (live, or queued in its persistent session while the service was down) is not
   * flagged, and is always published.
   *
   * - `"skip"` (the default): not published (logged at debug, counted `outcome="handled"`), so a restart of the
   *   service makes no second event of a device's last retained reading.
   * - `"publish"`: published as every other message, for devices that only publish retained state and a service
   *   that wants it when it starts; each start then publishes it again (one event within the Bus's duplicate
   *   window).
   *
   * @since 0.2.0
   */
  readonly retained?: "skip" | "publish" | undefined
}

/**
 * The default idempotency key of a telemetry message: `mqtt-` and the SHA-256 (hex) of the device id, the topic and
 * the payload's bytes. The same message delivered twice has the same key.
 *
 * @since 0.1.0
 * @category keys
 */
export const idempotencyKey = (deviceId: string, topic: string, payload: Uint8Array): string =>
  "mqtt-" +
  createHash("sha256").update(deviceId).update("\u0000").update(topic).update("\u0000").update(payload).digest("hex")

const deviceIdOf = <P extends string, A>(message: MqttClient.MqttMessage<P, A>): string => {
  const params = message.params as { readonly [name: string]: string | undefined }
  return params.device_id ?? message.topic
}

/**
 * Publishes each message of a topic as a Bus event, with an idempotency key (see the module's description); it runs
 * until the scope closes. A message the broker flags as retained is not published unless `retained: "publish"`. A
 * Bus failure fails the message's handler: retried while retryable within `mqtt.handler_timeout`; then a QoS 1 or 2
 * message of a persistent session (the default) is not acknowledged, and the client reconnects with backoff so the
 * broker delivers it again, the messages behind it waiting, until the Bus takes it (`outcome="redelivered"` at each
 * delivery given up). A QoS 0 message, or one of a clean session, is logged and counted (`outcome="failed"`): MQTT
 * cannot deliver it again.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Devices, Events } from "@glam/shared"
 *
 * declare const MeterReading: Devices.MqttTopic.MqttTopic<
 *   "meters/{meter_id}/reading",
 *   { readonly kwh: number; readonly at: string }
 * >
 * declare const ReadingRecorded: Events.EventDefinition<
 *   { readonly meter_id: string; readonly kwh: number; readonly at: string }
 * >
 *
 * const ReadingsToBus = Layer.scopedDiscard(
 *   Devices.DeviceBridge.telemetryToBus(MeterReading, ReadingRecorded, {
 *     toEvent: (message) => ({ meter_id: message.params.meter_id, kwh: message.payload.kwh, at: message.payload.at }),
 *     deviceId: (message) => message.params.meter_id
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 * @category bridges
 */
export const telemetryToBus = <P extends string, A, I, B, J>(
  topic: MqttTopic.MqttTopic<P, A, I>,
  definition: EventDefinition.EventDefinition<B, J>,
  options: TelemetryOptions<P, A, B>
): Effect.Effect<MqttClient.MqttSubscription, MqttError, MqttClient.MqttClient | Bus.Bus | Scope.Scope> =>
  Effect.flatMap(Bus.Bus, (bus) =>
    MqttClient.subscribe(topic, (message) =>
      Effect.gen(function*() {
        if (message.retain && options.retained !== "publish") {
          return yield* Effect.logDebug(
            `DeviceBridge: a retained message on ${topic.pattern} not published (retained: "skip")`
          )
        }
        const deviceId = (options.deviceId ?? deviceIdOf)(message)
        const built = options.toEvent(message)
        const payload: B = Effect.isEffect(built) ? yield* built : built
        const key = options.idempotencyKey === undefined
          ? idempotencyKey(deviceId, message.topic, message.raw)
          : options.idempotencyKey(message, deviceId)
        yield* bus.publish(definition, payload, { idempotencyKey: key })
      }), options.subscribe))

/**
 * What a Bus command asks of a device.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeviceCommand {
  readonly device_id: string
  readonly command: string
  readonly params?: { readonly [key: string]: unknown } | undefined
  /**
   * Default the registry's `devices.command_ack`: with `none`, the Bus message is acked once the broker has the
   * command, and is never sent again for want of an answer.
   *
   * @since 0.2.0
   */
  readonly ack?: Devices.CommandAckMode | undefined
}

/**
 * Sends each Bus command of a definition to its device and waits for the acknowledgement (`Devices.sendCommand`);
 * it runs until the scope closes. The Bus settles each message by the outcome: acknowledged, acked; the device
 * offline or late (`DeviceOfflineError`, `DeviceTimeoutError`), nak'd and delivered again with the subscriber's
 * backoff; not registered, rejected, or answered with an acknowledgement that does not decode, dead-lettered. With
 * `ack: "none"` (the command's, or `devices.command_ack`) a message is acked once the broker has the command.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Devices, Events } from "@glam/shared"
 *
 * declare const SetTariff: Events.EventDefinition<{ readonly meter_id: string; readonly tariff: string }>
 *
 * const CommandsToDevices = Layer.scopedDiscard(
 *   Devices.DeviceBridge.commandsFromBus(SetTariff, { durable: "energy-service-set-tariff" }, (event) => ({
 *     device_id: event.payload.meter_id,
 *     command: "set_tariff",
 *     params: { tariff: event.payload.tariff }
 *   }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category bridges
 */
export const commandsFromBus = <A, I>(
  definition: EventDefinition.EventDefinition<A, I>,
  options: Bus.SubscribeOptions,
  toCommand: (event: Bus.ReceivedEvent<A>) => DeviceCommand
): Effect.Effect<Bus.Subscription, MessageBusError, Bus.Bus | Devices.Devices | Scope.Scope> =>
  Effect.flatMap(Devices.Devices, (devices) =>
    Bus.subscribe(definition, options, (event) =>
      Effect.suspend(() => {
        const command = toCommand(event)
        return devices.sendCommand(
          command.device_id,
          command.command,
          command.params,
          command.ack === undefined ? undefined : { ack: command.ack }
        )
      })))
