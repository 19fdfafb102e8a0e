/**
 * The scheduler domain (`events/scheduler/types.py`): 7 commands and 9 events in the SCHEDULER stream, with
 * `ScheduleType` and `ExecutionStatus`. Defaults are the pydantic defaults (`timezone: "UTC"`, `priority: 5`,
 * ...); a pydantic `Optional[X] = None` may be absent or `null`; a required `Optional[X]` must be present.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Events from "../Events.js"
import { DateTimeString } from "../EventTimestamp.js"
import { JsonObject, JsonObjectOrEmpty, NonNegativeInt, optionalNullable, Priority, Uuid } from "../PayloadSchemas.js"

/**
 * How a schedule fires.
 *
 * @since 0.1.0
 * @category models
 */
export const ScheduleType = Schema.Literal("cron", "interval", "one_time", "immediate").annotations({
  identifier: "ScheduleType"
})

/**
 * How a schedule fires.
 *
 * @since 0.1.0
 * @category models
 */
export type ScheduleType = typeof ScheduleType.Type

/**
 * The state of one execution.
 *
 * @since 0.1.0
 * @category models
 */
export const ExecutionStatus = Schema.Literal("pending", "running", "success", "failed", "skipped").annotations({
  identifier: "ExecutionStatus"
})

/**
 * The state of one execution.
 *
 * @since 0.1.0
 * @category models
 */
export type ExecutionStatus = typeof ExecutionStatus.Type

/**
 * Payload of `cmd.scheduler.schedule.create`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const CreateSchedulePayload = Schema.Struct({
  name: Schema.String,
  description: optionalNullable(Schema.String),
  schedule_type: ScheduleType,
  cron_expression: optionalNullable(Schema.String),
  interval_seconds: optionalNullable(Schema.Int),
  scheduled_at: optionalNullable(DateTimeString),
  timezone: Schema.optionalWith(Schema.String, { default: () => "UTC" }),
  target_command: Schema.String,
  command_payload: JsonObjectOrEmpty,
  tags: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }),
  priority: Schema.optionalWith(Priority, { default: () => 5 }),
  max_retries: Schema.optionalWith(NonNegativeInt, { default: () => 3 }),
  retry_delay_seconds: Schema.optionalWith(NonNegativeInt, { default: () => 300 }),
  created_by: optionalNullable(Schema.String)
}).annotations({ identifier: "CreateScheduleCommandPayload" })

/**
 * Payload of `cmd.scheduler.schedule.update`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const UpdateSchedulePayload = Schema.Struct({
  schedule_id: Uuid,
  name: optionalNullable(Schema.String),
  description: optionalNullable(Schema.String),
  schedule_type: optionalNullable(ScheduleType),
  cron_expression: optionalNullable(Schema.String),
  interval_seconds: optionalNullable(Schema.Int),
  scheduled_at: optionalNullable(DateTimeString),
  timezone: optionalNullable(Schema.String),
  target_command: optionalNullable(Schema.String),
  command_payload: optionalNullable(JsonObject),
  tags: optionalNullable(Schema.Array(Schema.String)),
  priority: optionalNullable(Priority),
  max_retries: optionalNullable(NonNegativeInt),
  retry_delay_seconds: optionalNullable(NonNegativeInt),
  is_active: optionalNullable(Schema.Boolean)
}).annotations({ identifier: "UpdateScheduleCommandPayload" })

/**
 * Payload of `cmd.scheduler.schedule.delete` (`hard_delete` false: soft delete).
 *
 * @since 0.1.0
 * @category payloads
 */
export const DeleteSchedulePayload = Schema.Struct({
  schedule_id: Uuid,
  hard_delete: Schema.optionalWith(Schema.Boolean, { default: () => false })
}).annotations({ identifier: "DeleteScheduleCommandPayload" })

/**
 * Payload of `cmd.scheduler.schedule.pause`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const PauseSchedulePayload = Schema.Struct({
  schedule_id: Uuid,
  reason: optionalNullable(Schema.String)
}).annotations({ identifier: "PauseScheduleCommandPayload" })

/**
 * Payload of `cmd.scheduler.schedule.resume`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const ResumeSchedulePayload = Schema.Struct({
  schedule_id: Uuid
}).annotations({ identifier: "ResumeScheduleCommandPayload" })

/**
 * Payload of `cmd.scheduler.schedule.trigger`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const TriggerSchedulePayload = Schema.Struct({
  schedule_id: Uuid,
  override_payload: optionalNullable(JsonObject)
}).annotations({ identifier: "TriggerScheduleCommandPayload" })

/**
 * Payload of `cmd.scheduler.execute.immediate`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const ExecuteImmediatePayload = Schema.Struct({
  target_command: Schema.String,
  command_payload: JsonObjectOrEmpty,
  priority: Schema.optionalWith(Priority, { default: () => 5 })
}).annotations({ identifier: "ExecuteImmediateCommandPayload" })

/**
 * Payload of `evt.scheduler.schedule.created`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const ScheduleCreatedPayload = Schema.Struct({
  schedule_id: Uuid,
  name: Schema.String,
  schedule_type: ScheduleType,
  target_command: Schema.String,
  next_run_at: Schema.NullOr(DateTimeString),
  created_by: Schema.String,
  created_at: DateTimeString
}).annotations({ identifier: "ScheduleCreatedEventPayload" })

/**
 * Payload of `evt.scheduler.schedule.updated`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const ScheduleUpdatedPayload = Schema.Struct({
  schedule_id: Uuid,
  updated_fields: Schema.Array(Schema.String),
  next_run_at: Schema.NullOr(DateTimeString),
  updated_by: Schema.String,
  updated_at: DateTimeString
}).annotations({ identifier: "ScheduleUpdatedEventPayload" })

/**
 * Payload of `evt.scheduler.schedule.deleted`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const ScheduleDeletedPayload = Schema.Struct({
  schedule_id: Uuid,
  deleted_by: Schema.String,
  deleted_at: DateTimeString,
  hard_delete: Schema.Boolean
}).annotations({ identifier: "ScheduleDeletedEventPayload" })

/**
 * Payload of `evt.scheduler.schedule.paused`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const SchedulePausedPayload = Schema.Struct({
  schedule_id: Uuid,
  reason: Schema.NullOr(Schema.String),
  paused_by: Schema.String,
  paused_at: DateTimeString
}).annotations({ identifier: "SchedulePausedEventPayload" })

/**
 * Payload of `evt.scheduler.schedule.resumed`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const ScheduleResumedPayload = Schema.Struct({
  schedule_id: Uuid,
  next_run_at: Schema.NullOr(DateTimeString),
  resumed_by: Schema.String,
  resumed_at: DateTimeString
}).annotations({ identifier: "ScheduleResumedEventPayload" })

/**
 * Payload of `evt.scheduler.schedule.triggered`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const ScheduleTriggeredPayload = Schema.Struct({
  schedule_id: Uuid,
  execution_id: Uuid,
  triggered_by: Schema.String,
  triggered_at: DateTimeString
}).annotations({ identifier: "ScheduleTriggeredEventPayload" })

/**
 * Payload of `evt.scheduler.execution.started`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const ExecutionStartedPayload = Schema.Struct({
  execution_id: Uuid,
  schedule_id: Uuid,
  schedule_name: Schema.String,
  target_command: Schema.String,
  scheduled_for: DateTimeString,
  started_at: DateTimeString,
  attempt_number: Schema.optionalWith(Schema.Int, { default: () => 1 })
}).annotations({ identifier: "ExecutionStartedEventPayload" })

/**
 * Payload of `evt.scheduler.execution.completed`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const ExecutionCompletedPayload = Schema.Struct({
  execution_id: Uuid,
  schedule_id: Uuid,
  status: ExecutionStatus,
  duration_ms: Schema.Int,
  completed_at: DateTimeString,
  next_run_at: Schema.NullOr(DateTimeString)
}).annotations({ identifier: "ExecutionCompletedEventPayload" })

/**
 * Payload of `evt.scheduler.execution.failed`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const ExecutionFailedPayload = Schema.Struct({
  execution_id: Uuid,
  schedule_id: Uuid,
  error_message: Schema.String,
  error_type: Schema.NullOr(Schema.String),
  will_retry: Schema.Boolean,
  retry_at: Schema.NullOr(DateTimeString),
  attempt_number: Schema.Int,
  failed_at: DateTimeString
}).annotations({ identifier: "ExecutionFailedEventPayload" })

/**
 * `cmd.scheduler.schedule.create`.
 *
 * @since 0.1.0
 * @category commands
 */
export const ScheduleCreate = Events.command("scheduler.schedule.create", CreateSchedulePayload, {
  description: "Create a schedule"
})

/**
 * `cmd.scheduler.schedule.update`.
 *
 * @since 0.1.0
 * @category commands
 */
export const ScheduleUpdate = Events.command("scheduler.schedule.update", UpdateSchedulePayload, {
  description: "Update a schedule"
})

/**
 * `cmd.scheduler.schedule.delete`.
 *
 * @since 0.1.0
 * @category commands
 */
export const ScheduleDelete = Events.command("scheduler.schedule.delete", DeleteSchedulePayload, {
  description: "Delete a schedule (soft unless hard_delete)"
})

/**
 * `cmd.scheduler.schedule.pause`.
 *
 * @since 0.1.0
 * @category commands
 */
export const SchedulePause = Events.command("scheduler.schedule.pause", PauseSchedulePayload, {
  description: "Pause a schedule"
})

/**
 * `cmd.scheduler.schedule.resume`.
 *
 * @since 0.1.0
 * @category commands
 */
export const ScheduleResume = Events.command("scheduler.schedule.resume", ResumeSchedulePayload, {
  description: "Resume a schedule"
})

/**
 * `cmd.scheduler.schedule.trigger`.
 *
 * @since 0.1.0
 * @category commands
 */
export const ScheduleTrigger = Events.command("scheduler.schedule.trigger", TriggerSchedulePayload, {
  description: "Trigger a schedule now"
})

/**
 * `cmd.scheduler.execute.immediate`.
 *
 * @since 0.1.0
 * @category commands
 */
export const ExecuteImmediate = Events.command("scheduler.execute.immediate", ExecuteImmediatePayload, {
  description: "Execute a command now, without a schedule"
})

/**
 * `evt.scheduler.schedule.created`.
 *
 * @since 0.1.0
 * @category events
 */
export const ScheduleCreated = Events.event("scheduler.schedule.created", ScheduleCreatedPayload, {
  description: "A schedule was created"
})

/**
 * `evt.scheduler.schedule.updated`.
 *
 * @since 0.1.0
 * @category events
 */
export const ScheduleUpdated = Events.event("scheduler.schedule.updated", ScheduleUpdatedPayload, {
  description: "A schedule was updated"
})

/**
 * `evt.scheduler.schedule.deleted`.
 *
 * @since 0.1.0
 * @category events
 */
export const ScheduleDeleted = Events.event("scheduler.schedule.deleted", ScheduleDeletedPayload, {
  description: "A schedule was deleted"
})

/**
 * `evt.scheduler.schedule.paused`.
 *
 * @since 0.1.0
 * @category events
 */
export const SchedulePaused = Events.event("scheduler.schedule.paused", SchedulePausedPayload, {
  description: "A schedule was paused"
})

/**
 * `evt.scheduler.schedule.resumed`.
 *
 * @since 0.1.0
 * @category events
 */
export const ScheduleResumed = Events.event("scheduler.schedule.resumed", ScheduleResumedPayload, {
  description: "A schedule was resumed"
})

/**
 * `evt.scheduler.schedule.triggered`.
 *
 * @since 0.1.0
 * @category events
 */
export const ScheduleTriggered = Events.event("scheduler.schedule.triggered", ScheduleTriggeredPayload, {
  description: "A schedule was triggered"
})

/**
 * `evt.scheduler.execution.started`.
 *
 * @since 0.1.0
 * @category events
 */
export const ExecutionStarted = Events.event("scheduler.execution.started", ExecutionStartedPayload, {
  description: "An execution started"
})

/**
 * `evt.scheduler.execution.completed`.
 *
 * @since 0.1.0
 * @category events
 */
export const ExecutionCompleted = Events.event("scheduler.execution.completed", ExecutionCompletedPayload, {
  description: "An execution completed"
})

/**
 * `evt.scheduler.execution.failed`.
 *
 * @since 0.1.0
 * @category events
 */
export const ExecutionFailed = Events.event("scheduler.execution.failed", ExecutionFailedPayload, {
  description: "An execution failed"
})

/**
 * Every scheduler definition.
 *
 * @since 0.1.0
 * @category catalogue
 */
export const definitions: ReadonlyArray<Events.EventDefinition.Any> = [
  ScheduleCreate,
  ScheduleUpdate,
  ScheduleDelete,
  SchedulePause,
  ScheduleResume,
  ScheduleTrigger,
  ExecuteImmediate,
  ScheduleCreated,
  ScheduleUpdated,
  ScheduleDeleted,
  SchedulePaused,
  ScheduleResumed,
  ScheduleTriggered,
  ExecutionStarted,
  ExecutionCompleted,
  ExecutionFailed
]
