/**
 * A device's registration: the row of the `devices` table, its repository, and what a registration must be.
 *
 * @internal
 */
import * as Model from "@effect/sql/Model"
import type { SqlClient } from "@effect/sql/SqlClient"
import * as Array_ from "effect/Array"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { ValidationError } from "../../Errors/CommonErrors.js"
import { cutText } from "../../internal/text.js"
import { timed } from "../../Sql/internal/queryMetrics.js"
import { mapSqlErrors } from "../../Sql/internal/sqlErrors.js"
import * as ModelMixins from "../../Sql/ModelMixins.js"
import * as Repository from "../../Sql/Repository.js"
import type { SqlFailure } from "../../Sql/SqlErrors.js"
import type { Registration } from "../Devices.js"
import { DeviceRecordInvalidError } from "./errors.js"
import * as TopicPattern from "./topicPattern.js"

/**
 * A device as registered: the row of the `devices` table.
 *
 * @since 0.1.0
 * @category models
 */
export class Device extends Model.Class<Device>("Device")({
  device_id: Schema.String,
  device_type: Schema.String,
  topics: Schema.Array(Schema.String),
  ...ModelMixins.Timestamps
}) {}

/** The repository of the `devices` table. */
export type DeviceRepository = Repository.Repository<typeof Device, "device_id">

/** The repository of the `devices` table, with `devices_*` metrics. */
export const repository = Repository.make(Device, { table: "devices", id: "device_id", metricPrefix: "devices" })

/** A registration's id and topics, as the registry reads them (at startup and again). */
export interface StoredRegistration {
  readonly device_id: string
  readonly topics: ReadonlyArray<string>
}

/**
 * What a read of the registry found: the rows of the registry's shape, and the ids of those of another shape (a row
 * written by other means, such as a NULL in its topics), which are skipped with a warning.
 */
export interface RegistrationsRead {
  readonly rows: ReadonlyArray<StoredRegistration>
  readonly skipped: ReadonlySet<string>
}

/**
 * Why a row read is not of the registry's shape (a text id, a list of text topics), or undefined when it is: a check
 * of each field, a fraction of a schema's decoding of each row of a large registry.
 */
const misshapen = (row: Readonly<Record<string, unknown>>): string | undefined => {
  if (typeof row.device_id !== "string") return "its device_id is not text"
  const topics = row.topics
  if (!Array.isArray(topics)) return "its topics are not a list"
  for (const topic of topics) if (typeof topic !== "string") return "its topics hold a value that is not text"
  return undefined
}

/**
 * The rows read (`device_id` and `topics`, as `readRegistrations` selects them) of the registry's shape, as they
 * are, and the ids of the others, skipped with a warning naming up to three of them and why. The rows kept are those
 * the `Device` model's `device_id` and `topics` fields decode, and hold what they decode to.
 */
export const checked = (raw: ReadonlyArray<Readonly<Record<string, unknown>>>): Effect.Effect<RegistrationsRead> =>
  Effect.suspend(() => {
    const rows: Array<StoredRegistration> = []
    const skipped = new Set<string>()
    const reasons: Array<string> = []
    for (const row of raw) {
      const reason = misshapen(row)
      if (reason === undefined) {
        rows.push(row as unknown as StoredRegistration)
        continue
      }
      if (typeof row.device_id === "string") skipped.add(row.device_id)
      if (reasons.length < 3) {
        reasons.push(`${typeof row.device_id === "string" ? `device ${shownId(row.device_id)}` : "a row"}: ${reason}`)
      }
    }
    const count = raw.length - rows.length
    return Effect.as(
      count === 0 ? Effect.void : Effect.logWarning(
        `Devices: ${count} row(s) of the registry skipped, not of its shape (${reasons.join("; ")}${
          count > reasons.length ? "; ..." : ""
        }); their topics here are left as they were`
      ),
      { rows, skipped }
    )
  })

/**
 * Every registration's id and topics: what the registry loads at startup, and brings the tracked devices and the
 * registered topics in line with at each read again. A device without topics is read too (its id and an empty
 * list): it is tracked while it is stored.
 */
export const readRegistrations = (sql: SqlClient): Effect.Effect<RegistrationsRead, SqlFailure> =>
  sql<Record<string, unknown>>`SELECT device_id, topics FROM devices`.withoutTransform.pipe(
    mapSqlErrors({ operation: "devices.read_registrations", table: "devices" }),
    Effect.flatMap(checked)
  )

/** The registrations of these devices (ids a device may have), as `readRegistrations` reads every one. */
export const readRegistrationsOf = (
  sql: SqlClient,
  deviceIds: ReadonlyArray<string>
): Effect.Effect<RegistrationsRead, SqlFailure> =>
  sql<Record<string, unknown>>`SELECT device_id, topics FROM devices WHERE device_id IN ${sql.in(deviceIds)}`
    .withoutTransform.pipe(
      mapSqlErrors({ operation: "devices.read_registrations", table: "devices" }),
      Effect.flatMap(checked)
    )

/**
 * Whether the device is stored, its id and topics read as `readRegistrationsOf` reads them: a row of the registry's
 * shape, or one skipped with a warning (stored all the same); the other columns are not read. Timed as
 * `sql_query_duration_seconds{operation="devices.findById"}`, the repository's lookup by id.
 */
export const readStored = (sql: SqlClient, deviceId: string): Effect.Effect<boolean, SqlFailure> =>
  readRegistrationsOf(sql, [deviceId]).pipe(
    timed("devices.findById"),
    Effect.map((read) => read.rows.length > 0 || read.skipped.size > 0)
  )

const decodeDevice = Schema.decodeUnknownEither(Device)

const decodeEveryField = Schema.decodeUnknownEither(Device, { errors: "all" })

/** A row read whole: the device, or the error naming the device and the field that does not decode. */
export type DecodedRecord = Either.Either<Device, DeviceRecordInvalidError>

/** The `DeviceRecordInvalidError` of a row, naming its id and the field of the issue (the row without one). */
const invalidRecord = (
  row: Readonly<Record<string, unknown>>,
  issue: ParseResult.ArrayFormatterIssue | undefined
): DeviceRecordInvalidError => {
  const field = issue === undefined || issue.path.length === 0 ? "row" : String(issue.path[0])
  const deviceId = typeof row.device_id === "string" ? shownId(row.device_id) : "(an id that is not text)"
  const reason = cutText(issue?.message ?? "it does not decode", 256)
  return new DeviceRecordInvalidError({
    message: `Device ${deviceId}: its stored ${field} cannot be read (${reason})`,
    details: { device_id: deviceId, field, reason }
  })
}

/**
 * A row of the `devices` table as read whole (`SELECT *`), decoded through the `Device` model, or the
 * `DeviceRecordInvalidError` naming its id and the first field that does not decode.
 */
export const decodeRecord = (row: Readonly<Record<string, unknown>>): DecodedRecord =>
  Either.mapLeft(decodeDevice(row), (error) => invalidRecord(row, ParseResult.ArrayFormatter.formatErrorSync(error)[0]))

/** The error naming the first field of the row but `field` that does not decode; undefined when each other does. */
const invalidBesides = (
  row: Readonly<Record<string, unknown>>,
  field: string
): DeviceRecordInvalidError | undefined => {
  const decoded = decodeEveryField(row)
  if (Either.isRight(decoded)) return undefined
  const issue = ParseResult.ArrayFormatter.formatErrorSync(decoded.left).find((i) => String(i.path[0]) !== field)
  return issue === undefined ? undefined : invalidRecord(row, issue)
}

/** Whether a repository's read failed on a row the `Device` model does not decode (a DatabaseError, `decode`). */
export const isUndecodedRow = (error: SqlFailure): boolean =>
  error._tag === "DatabaseError" && error.details.operation === "decode"

/** The device's row read whole, as it is; none when there is no row. */
const readRow = (
  sql: SqlClient,
  deviceId: string
): Effect.Effect<Option.Option<Readonly<Record<string, unknown>>>, SqlFailure> =>
  sql<Record<string, unknown>>`SELECT * FROM devices WHERE device_id = ${deviceId}`.withoutTransform.pipe(
    mapSqlErrors({ operation: "devices.read_record", table: "devices" }),
    Effect.map(Array_.head)
  )

/** The device's row read whole, decoded as `decodeRecord` decodes it; none when there is no row. */
export const readRecord = (
  sql: SqlClient,
  deviceId: string
): Effect.Effect<Option.Option<DecodedRecord>, SqlFailure> =>
  Effect.map(readRow(sql, deviceId), Option.map(decodeRecord))

/**
 * The row of a device `register` has just written its type and topics over, when the `Device` model does not decode
 * it: read whole; a `created_at` the model cannot read (`infinity`, a time beyond a JavaScript date's range), which
 * `register` does not write, is set to the registration's `updated_at`, with a warning naming the device and the
 * field; a row that does not decode otherwise fails with its `DeviceRecordInvalidError`, and so does one of which
 * another field does not decode as well as `created_at` (a column of another type, which a tool altered), naming that
 * field, its `created_at` left as it is. None when there is no row.
 */
export const repairRegistered = (
  sql: SqlClient,
  deviceId: string
): Effect.Effect<Option.Option<Device>, SqlFailure | DeviceRecordInvalidError> =>
  Effect.flatMap(readRow(sql, deviceId), (found) => {
    if (Option.isNone(found)) return Effect.succeedNone
    const decoded = decodeRecord(found.value)
    if (Either.isRight(decoded)) return Effect.succeedSome(decoded.right)
    if (decoded.left.details.field !== "created_at") return Effect.fail(decoded.left)
    const besides = invalidBesides(found.value, "created_at")
    if (besides !== undefined) return Effect.fail(besides)
    const unreadable = decoded.left
    return sql<Record<string, unknown>>`UPDATE devices SET created_at = updated_at WHERE device_id = ${deviceId}
      RETURNING *`.withoutTransform.pipe(
      mapSqlErrors({ operation: "devices.repair_created_at", table: "devices" }),
      Effect.flatMap((rows) => {
        const row = Array_.head(rows)
        if (Option.isNone(row)) return Effect.succeedNone
        return Either.match(decodeRecord(row.value), {
          onLeft: (error) => Effect.fail(error),
          onRight: (device) =>
            Effect.as(
              Effect.logWarning(
                `Devices: device ${shownId(deviceId)}'s stored created_at cannot be read ` +
                  `(${unreadable.details.reason}): registering it set its created_at to the registration's time`
              ),
              Option.some(device)
            )
        })
      })
    )
  })

/** A page of the rows ordered by id, each decoded as `decodeRecord` decodes it, and how many rows there are. */
export const readRecords = (
  sql: SqlClient,
  page: number,
  limit: number
): Effect.Effect<{ readonly total: number; readonly rows: ReadonlyArray<DecodedRecord> }, SqlFailure> =>
  Effect.all([
    sql<{ readonly total: string | number }>`SELECT count(*) AS total FROM devices`.withoutTransform,
    sql<Record<string, unknown>>`SELECT * FROM devices ORDER BY device_id LIMIT ${limit} OFFSET ${(page - 1) * limit}`
      .withoutTransform
  ]).pipe(
    mapSqlErrors({ operation: "devices.read_records", table: "devices" }),
    Effect.map(([[count], rows]) => ({ total: Number(count?.total ?? 0), rows: rows.map(decodeRecord) }))
  )

const deviceIdPattern = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/

/** Whether a string is an id a device may be registered under: no other id can be in the `devices` table. */
export const isDeviceId = (deviceId: string): boolean => deviceIdPattern.test(deviceId)

/**
 * An id as errors and spans show it: whole when a device may have it, else (a caller's id of up to the whole URL or
 * message it came in) cut to 256 characters.
 */
export const shownId = (deviceId: string): string => cutText(deviceId, 256)

const invalid = (field: string, reason: string) =>
  new ValidationError({ message: `Invalid ${field}: ${reason}`, details: { field, reason } })

/**
 * Why a registered topic is not one the registry can subscribe, or `undefined`: an MQTT topic name or filter (`+`,
 * `#`) as `MqttTopic.make` takes it, without a named level (`{name}`).
 */
export const invalidTopic = (topic: string): string | undefined => {
  const parsed = TopicPattern.parse(topic)
  if (typeof parsed === "string") return parsed
  return parsed.params.length > 0
    ? "has a named level ({name}): give the device's own topic, or + for a level"
    : undefined
}

/** Fails with a `ValidationError` when the id, the type or a topic does not fit. */
export const validate = (registration: Registration): Effect.Effect<void, ValidationError> => {
  if (!isDeviceId(registration.device_id)) {
    return Effect.fail(
      invalid("device_id", "1 to 128 letters, digits, ., _, : or -, starting with a letter or digit")
    )
  }
  if (registration.device_type.trim().length === 0) return Effect.fail(invalid("device_type", "it is empty"))
  for (const topic of registration.topics ?? []) {
    const reason = invalidTopic(topic)
    if (reason !== undefined) {
      return Effect.fail(
        invalid("topics", `${JSON.stringify(cutText(topic, 256))} is not an MQTT topic filter: it ${reason}`)
      )
    }
  }
  return Effect.void
}
