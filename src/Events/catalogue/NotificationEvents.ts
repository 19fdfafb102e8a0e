/**
 * The notification domain (`events/notification/`): 2 commands and 3 events in the NOTIFICATION stream, the
 * `Recipient` model, and the helpers that build send-email commands with deduplicating idempotency keys.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { createHash } from "node:crypto"
import type { ValidationError } from "../../Errors/Errors.js"
import * as EventEnvelope from "../EventEnvelope.js"
import * as Events from "../Events.js"
import * as EventTimestamp from "../EventTimestamp.js"
import { DateTimeString } from "../EventTimestamp.js"
import { JsonObjectOrEmpty, Uuid } from "../PayloadSchemas.js"

/**
 * The recipient of an email.
 *
 * @since 0.1.0
 * @category payloads
 */
export const Recipient = Schema.Struct({
  merchant_id: Uuid,
  merchant_domain: Schema.String,
  email: Schema.String,
  unsubscribe_token: Schema.String,
  dynamic_content: JsonObjectOrEmpty
}).annotations({ identifier: "Recipient" })

/**
 * The recipient of an email.
 *
 * @since 0.1.0
 * @category payloads
 */
export type Recipient = typeof Recipient.Type

/**
 * Payload of `cmd.notification.send_email`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const SendEmailPayload = Schema.Struct({
  notification_type: Schema.String,
  recipient: Recipient
}).annotations({ identifier: "SendEmailCommandPayload", description: "Send a single email" })

/**
 * Payload of `cmd.notification.bulk_send`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const BulkSendPayload = Schema.Struct({
  notification_type: Schema.String,
  recipients: Schema.Array(Recipient)
}).annotations({ identifier: "SendEmailBulkCommandPayload", description: "Send one notification type to many" })

/**
 * Payload of `evt.notification.email.sent`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const EmailSentPayload = Schema.Struct({
  notification_id: Uuid,
  merchant_id: Uuid,
  notification_type: Schema.String,
  provider: Schema.String,
  provider_message_id: Schema.String,
  sent_at: DateTimeString,
  metadata: JsonObjectOrEmpty
}).annotations({ identifier: "EmailSentEventPayload" })

/**
 * Payload of `evt.notification.email.failed`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const EmailFailedPayload = Schema.Struct({
  notification_id: Uuid,
  merchant_id: Uuid,
  notification_type: Schema.String,
  error: Schema.String,
  error_code: Schema.String,
  retry_count: Schema.Int,
  will_retry: Schema.Boolean,
  failed_at: DateTimeString
}).annotations({ identifier: "EmailFailedEventPayload" })

/**
 * Payload of `evt.notification.bulk_send.completed`.
 *
 * @since 0.1.0
 * @category payloads
 */
export const BulkSendCompletedPayload = Schema.Struct({
  bulk_job_id: Uuid,
  notification_type: Schema.String,
  total_recipients: Schema.Int,
  total_sent: Schema.Int,
  total_failed: Schema.Int,
  total_skipped: Schema.Int,
  duration_seconds: Schema.Number,
  completed_at: DateTimeString
}).annotations({ identifier: "BulkCompletedEventPayload" })

/**
 * `cmd.notification.send_email`.
 *
 * @since 0.1.0
 * @category commands
 */
export const SendEmail = Events.command("notification.send_email", SendEmailPayload, {
  description: "Send a single email"
})

/**
 * `cmd.notification.bulk_send`.
 *
 * @since 0.1.0
 * @category commands
 */
export const BulkSend = Events.command("notification.bulk_send", BulkSendPayload, {
  description: "Send bulk emails of one notification type"
})

/**
 * `evt.notification.email.sent`.
 *
 * @since 0.1.0
 * @category events
 */
export const EmailSent = Events.event("notification.email.sent", EmailSentPayload, {
  description: "An email was sent"
})

/**
 * `evt.notification.email.failed`.
 *
 * @since 0.1.0
 * @category events
 */
export const EmailFailed = Events.event("notification.email.failed", EmailFailedPayload, {
  description: "Email delivery failed"
})

/**
 * `evt.notification.bulk_send.completed`.
 *
 * @since 0.1.0
 * @category events
 */
export const BulkSendCompleted = Events.event("notification.bulk_send.completed", BulkSendCompletedPayload, {
  description: "A bulk send completed"
})

/**
 * Every notification definition.
 *
 * @since 0.1.0
 * @category catalogue
 */
export const definitions: ReadonlyArray<Events.EventDefinition.Any> = [
  SendEmail,
  BulkSend,
  EmailSent,
  EmailFailed,
  BulkSendCompleted
]

const sha256Prefix = (data: string): string => createHash("sha256").update(data, "utf8").digest("hex").slice(0, 16)

const hourBucket = (epochMillis: number): string => {
  const d = new Date(epochMillis)
  const pad = (n: number) => String(n).padStart(2, "0")
  return `${String(d.getUTCFullYear()).padStart(4, "0")}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${
    pad(d.getUTCHours())
  }`
}

/**
 * The idempotency key of a send-email command: `send_` + 16 hex of sha256(`merchant:type:email:YYYYMMDDHH`), so
 * the same email to the same recipient is sent at most once per UTC hour, whichever service (Python or not)
 * asks. The merchant id is lower-cased, as Python's `str(UUID)`.
 *
 * @since 0.1.0
 * @category idempotency
 */
export const sendEmailIdempotencyKey = (
  input: { readonly merchantId: string; readonly notificationType: string; readonly recipientEmail: string },
  epochMillis: number
): string =>
  `send_${
    sha256Prefix(
      `${input.merchantId.toLowerCase()}:${input.notificationType}:${input.recipientEmail}:${hourBucket(epochMillis)}`
    )
  }`

/**
 * The idempotency key of a bulk send: `bulk_` + 16 hex of sha256(`bulk:type:count:<isoformat timestamp>`).
 *
 * @since 0.1.0
 * @category idempotency
 */
export const bulkEmailIdempotencyKey = (notificationType: string, recipientCount: number, timestamp: string): string =>
  `bulk_${sha256Prefix(`bulk:${notificationType}:${recipientCount}:${timestamp}`)}`

/**
 * Options of {@link createSendEmailCommand}.
 *
 * @since 0.1.0
 * @category helpers
 */
export interface SendEmailOptions {
  readonly merchantId: string
  readonly merchantDomain: string
  readonly recipientEmail: string
  readonly notificationType: string
  readonly dynamicContent: { readonly [key: string]: unknown }
  readonly unsubscribeToken: string
  readonly idempotencyKey?: string | undefined
  readonly correlationId?: string | undefined
  /** Envelope metadata; its `source_service` names the sender (`"unknown"` when absent). */
  readonly metadata?: { readonly [key: string]: unknown } | undefined
}

const sourceOf = (metadata: { readonly [key: string]: unknown } | undefined): string =>
  typeof metadata?.source_service === "string" ? metadata.source_service : "unknown"

/**
 * Builds a `cmd.notification.send_email` envelope (`create_send_email_command`). Without an idempotency key the
 * key is {@link sendEmailIdempotencyKey} for the current hour, which stops duplicate emails within the hour.
 *
 * @example
 * ```ts
 * import { NotificationEvents } from "@glam/shared/Events"
 *
 * declare const merchantId: string
 * const envelope = NotificationEvents.createSendEmailCommand({
 *   merchantId, merchantDomain: "teststore.myshopify.com", recipientEmail: "ana@example.com",
 *   notificationType: "order_confirmation", dynamicContent: { first_name: "Ana" },
 *   unsubscribeToken: "unsub_8d7c6b5a", metadata: { source_service: "merchant-service" }
 * })
 * ```
 *
 * @since 0.1.0
 * @category helpers
 */
export const createSendEmailCommand = (
  options: SendEmailOptions
): Effect.Effect<EventEnvelope.EventEnvelope, ValidationError> =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const idempotencyKey = options.idempotencyKey || sendEmailIdempotencyKey(options, now)
    return yield* EventEnvelope.make(SendEmail, {
      notification_type: options.notificationType,
      recipient: {
        merchant_id: options.merchantId,
        merchant_domain: options.merchantDomain,
        email: options.recipientEmail,
        unsubscribe_token: options.unsubscribeToken,
        dynamic_content: options.dynamicContent
      }
    }, {
      sourceService: sourceOf(options.metadata),
      idempotencyKey,
      correlationId: options.correlationId,
      metadata: options.metadata
    })
  })

/**
 * A recipient of a bulk send as the Python helper took it (`dynamic_content` optional).
 *
 * @since 0.1.0
 * @category helpers
 */
export interface BulkRecipient {
  readonly merchant_id: string
  readonly merchant_domain: string
  readonly email: string
  readonly unsubscribe_token: string
  readonly dynamic_content?: { readonly [key: string]: unknown } | undefined
}

/**
 * Options of {@link createBulkEmailCommand}.
 *
 * @since 0.1.0
 * @category helpers
 */
export interface BulkEmailOptions {
  readonly notificationType: string
  readonly recipients: ReadonlyArray<BulkRecipient>
  readonly idempotencyKey?: string | undefined
  readonly correlationId?: string | undefined
  readonly metadata?: { readonly [key: string]: unknown } | undefined
}

/**
 * Builds a `cmd.notification.bulk_send` envelope (`create_bulk_email_command`). Without an idempotency key the
 * key is {@link bulkEmailIdempotencyKey} of the current instant: unique per call, as in Python.
 *
 * @since 0.1.0
 * @category helpers
 */
export const createBulkEmailCommand = (
  options: BulkEmailOptions
): Effect.Effect<EventEnvelope.EventEnvelope, ValidationError> =>
  Effect.gen(function*() {
    const timestamp = yield* EventTimestamp.now
    const idempotencyKey = options.idempotencyKey ||
      bulkEmailIdempotencyKey(options.notificationType, options.recipients.length, timestamp)
    return yield* EventEnvelope.make(BulkSend, {
      notification_type: options.notificationType,
      recipients: options.recipients.map((r) => ({
        merchant_id: r.merchant_id,
        merchant_domain: r.merchant_domain,
        email: r.email,
        unsubscribe_token: r.unsubscribe_token,
        dynamic_content: r.dynamic_content ?? {}
      }))
    }, {
      sourceService: sourceOf(options.metadata),
      idempotencyKey,
      correlationId: options.correlationId,
      metadata: options.metadata
    })
  })
