/**
 * Commands to devices: published with QoS 1 on the device's command topic, then waiting for the acknowledgement
 * with the same `command_id`, the device going offline, or the timeout; counted in `device_commands_total`.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { randomUUID } from "node:crypto"
import { cutText } from "../../internal/text.js"
import type { CommandAckMode, CommandError, CommandResult, DeviceTopics } from "../Devices.js"
import type { MqttClient } from "../MqttClient.js"
import { shownId } from "./deviceRecord.js"
import { DeviceAckInvalidError, DeviceCommandRejectedError, DeviceOfflineError, DeviceTimeoutError } from "./errors.js"
import { type CommandOutcome, recordCommand } from "./metrics.js"

/** A command as published to the device (`Devices.CommandMessage`). */
export const CommandMessage = Schema.Struct({
  command_id: Schema.String,
  command: Schema.String,
  params: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  sent_at: Schema.String
})

/** A device's acknowledgement of a command (`Devices.CommandAck`). */
export const CommandAck = Schema.Struct({
  command_id: Schema.String,
  status: Schema.Literal("ok", "error"),
  result: Schema.optional(Schema.Unknown),
  error: Schema.optional(Schema.String)
})

type CommandAck = typeof CommandAck.Type

interface Pending {
  readonly deviceId: string
  readonly command: string
  readonly deferred: Deferred.Deferred<CommandAck, DeviceOfflineError | DeviceAckInvalidError>
}

/** The commands waiting for their acknowledgement, by `command_id`. */
export type Waiting = Map<string, Pending>

/** A command to one device, as `Devices.sendCommand` takes it. */
export interface Command {
  readonly deviceId: string
  readonly command: string
  readonly params: { readonly [key: string]: unknown } | undefined
  readonly timeout: Duration.Duration
  /** `required`: done at the device's acknowledgement; `none`: done at the broker's PUBACK, nothing waits. */
  readonly ack: CommandAckMode
}

/** The `outcome` label of a failed command. */
const commandOutcome = (tag: string): CommandOutcome =>
  tag === "DeviceTimeoutError"
    ? "timeout"
    : tag === "DeviceOfflineError"
    ? "offline"
    : tag === "DeviceCommandRejectedError"
    ? "rejected"
    : tag === "DeviceAckInvalidError"
    ? "invalid_ack"
    : "failed"

/** The command was not sent: the device is offline. */
export const offlineError = (deviceId: string, command: string) =>
  new DeviceOfflineError({
    message: `Device ${deviceId} is offline: command ${command} was not sent`,
    details: { device_id: deviceId, command }
  })

const timeoutError = (c: Command, commandId: string) =>
  new DeviceTimeoutError({
    message: `Device ${c.deviceId} did not acknowledge command ${c.command} within ${Duration.format(c.timeout)}`,
    details: {
      device_id: c.deviceId,
      command: c.command,
      command_id: commandId,
      timeout_ms: Duration.toMillis(c.timeout)
    }
  })

/** The longest reason of a device's own kept in a rejection; the rest is cut. */
const maxReasonLength = 1024

const rejectedError = (c: Command, commandId: string, text: string | undefined) => {
  // The device's own words, as long as its payload allows: cut, as an upstream service's error message is.
  const reason = text === undefined ? undefined : cutText(text, maxReasonLength)
  return new DeviceCommandRejectedError({
    message: `Device ${c.deviceId} rejected command ${c.command}${reason === undefined ? "" : `: ${reason}`}`,
    details: {
      device_id: c.deviceId,
      command: c.command,
      command_id: commandId,
      ...(reason === undefined ? {} : { reason })
    }
  })
}

const publishCommand = (client: MqttClient, topics: DeviceTopics, c: Command, commandId: string) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    client.publish(topics.command, { device_id: c.deviceId }, {
      command_id: commandId,
      command: c.command,
      ...(c.params === undefined ? {} : { params: c.params }),
      sent_at: new Date(now).toISOString()
    }))

/**
 * Publishes the command (the device is known not to be offline). With `ack: "required"` it waits for the device's
 * acknowledgement; with `ack: "none"` it is done once the broker has the command (its PUBACK), and no record of it
 * waits for an answer.
 */
export const send = (
  client: MqttClient,
  topics: DeviceTopics,
  waiting: Waiting,
  c: Command
): Effect.Effect<CommandResult, CommandError> =>
  Effect.suspend(() => {
    const commandId = randomUUID()
    if (c.ack === "none") {
      const sent: CommandResult = { command_id: commandId, status: "sent", result: undefined }
      return Effect.as(publishCommand(client, topics, c, commandId), sent)
    }
    return Effect.gen(function*() {
      const deferred = yield* Deferred.make<CommandAck, DeviceOfflineError | DeviceAckInvalidError>()
      waiting.set(commandId, { deviceId: c.deviceId, command: c.command, deferred })
      yield* publishCommand(client, topics, c, commandId)
      const ack = yield* Deferred.await(deferred).pipe(
        Effect.timeoutFail({ duration: c.timeout, onTimeout: () => timeoutError(c, commandId) })
      )
      if (ack.status === "error") return yield* Effect.fail(rejectedError(c, commandId, ack.error))
      const result: CommandResult = { command_id: commandId, status: "acknowledged", result: ack.result }
      return result
    }).pipe(Effect.ensuring(Effect.sync(() => waiting.delete(commandId))))
  })

/** Counts the command's outcome and runs it in a span. */
export const observed = (
  c: { readonly deviceId: string; readonly command: string; readonly ack: CommandAckMode },
  effect: Effect.Effect<CommandResult, CommandError>
): Effect.Effect<CommandResult, CommandError> =>
  effect.pipe(
    Effect.tapBoth({
      onFailure: (e) => recordCommand(commandOutcome(e._tag)),
      onSuccess: (result) => recordCommand(result.status)
    }),
    Effect.withSpan("Devices.sendCommand", {
      attributes: { device_id: shownId(c.deviceId), command: c.command, command_ack: c.ack }
    })
  )

/** An acknowledgement arrived: the command waiting for it, if it is the device's, has its answer. */
export const acknowledge = (waiting: Waiting, deviceId: string | undefined, ack: CommandAck): Effect.Effect<void> =>
  Effect.suspend(() => {
    const p = waiting.get(ack.command_id)
    return p === undefined || p.deviceId !== deviceId ? Effect.void : Deferred.succeed(p.deferred, ack)
  })

/**
 * An acknowledgement naming `commandId` that does not decode (`reason`) arrived: the command waiting for it, if it is
 * the device's, fails with `DeviceAckInvalidError`, which is also the result (the handler's failure, logged).
 */
export const unreadable = (
  waiting: Waiting,
  deviceId: string | undefined,
  commandId: string,
  reason: string
): Effect.Effect<never, DeviceAckInvalidError> =>
  Effect.suspend(() => {
    const p = waiting.get(commandId)
    const mine = p !== undefined && p.deviceId === deviceId
    const cut = cutText(reason, maxReasonLength)
    const error = new DeviceAckInvalidError({
      message: `Device ${deviceId ?? "(none)"} answered command ${mine ? p.command : commandId} with an `
        + `acknowledgement that cannot be read: ${cut}`,
      details: {
        ...(deviceId === undefined ? {} : { device_id: deviceId }),
        ...(mine ? { command: p.command } : {}),
        command_id: cutText(commandId, maxReasonLength),
        reason: cut
      }
    })
    return Effect.zipRight(mine ? Deferred.fail(p.deferred, error) : Effect.void, Effect.fail(error))
  })

/** The device went offline: every command waiting for it fails with `DeviceOfflineError`. */
export const failWaiting = (waiting: Waiting, deviceId: string): Effect.Effect<void> =>
  Effect.forEach(
    [...waiting.entries()].filter(([, p]) => p.deviceId === deviceId),
    ([commandId, p]) =>
      Deferred.fail(
        p.deferred,
        new DeviceOfflineError({
          message: `Device ${deviceId} went offline while command ${commandId} waited for its acknowledgement`,
          details: { device_id: deviceId, command_id: commandId }
        })
      ),
    { discard: true }
  )
