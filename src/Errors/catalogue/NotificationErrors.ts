/**
 * Notification service errors (seed 002 `errors/notification.py`).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { DomainErrorClass, InfrastructureErrorClass, OptionalString } from "../GlamError.js"

/**
 * A notification does not exist (`NOTIFICATION_NOT_FOUND`, 404).
 *
 * @since 0.1.0
 * @category notification
 */
export class NotificationNotFoundError
  extends DomainErrorClass<NotificationNotFoundError>()("NotificationNotFoundError", {
    code: "NOTIFICATION_NOT_FOUND",
    status: 404,
    message: "Notification not found",
    details: { resource_id: OptionalString, merchant_id: OptionalString },
    fixed: { resource: "notification" }
  })
{}

/**
 * An email template does not exist (`TEMPLATE_NOT_FOUND`, 404).
 *
 * @since 0.1.0
 * @category notification
 */
export class TemplateNotFoundError extends DomainErrorClass<TemplateNotFoundError>()("TemplateNotFoundError", {
  code: "TEMPLATE_NOT_FOUND",
  status: 404,
  message: "Template not found",
  details: { resource_id: OptionalString, template_type: OptionalString },
  fixed: { resource: "template" }
}) {}

/**
 * An email template failed to render (`TEMPLATE_RENDER_ERROR`, 422).
 *
 * @since 0.1.0
 * @category notification
 */
export class TemplateRenderError extends DomainErrorClass<TemplateRenderError>()("TemplateRenderError", {
  code: "TEMPLATE_RENDER_ERROR",
  status: 422,
  message: "Template render failed",
  details: {
    template_name: OptionalString,
    missing_variables: Schema.optional(Schema.Array(Schema.String)),
    render_error: OptionalString
  }
}) {}

/**
 * The recipient address is invalid (`INVALID_RECIPIENT`, 422).
 *
 * @since 0.1.0
 * @category notification
 */
export class InvalidRecipientError extends DomainErrorClass<InvalidRecipientError>()("InvalidRecipientError", {
  code: "INVALID_RECIPIENT",
  status: 422,
  message: "Invalid recipient",
  details: { value: OptionalString, reason: OptionalString },
  fixed: { field: "recipient" }
}) {}

/**
 * Notification preferences do not exist (`PREFERENCES_NOT_FOUND`, 404).
 *
 * @since 0.1.0
 * @category notification
 */
export class PreferencesNotFoundError extends DomainErrorClass<PreferencesNotFoundError>()("PreferencesNotFoundError", {
  code: "PREFERENCES_NOT_FOUND",
  status: 404,
  message: "Notification preferences not found",
  details: { resource_id: OptionalString },
  fixed: { resource: "notification_preferences" }
}) {}

/**
 * The email provider's API failed (`EMAIL_PROVIDER_ERROR`, 503).
 *
 * @since 0.1.0
 * @category notification
 */
export class EmailProviderError extends InfrastructureErrorClass<EmailProviderError>()("EmailProviderError", {
  code: "EMAIL_PROVIDER_ERROR",
  status: 503,
  message: "Email provider error",
  details: { service: OptionalString, provider_error_code: OptionalString, provider_message: OptionalString }
}) {}

/**
 * The recipient has unsubscribed (`UNSUBSCRIBED`, 409).
 *
 * @since 0.1.0
 * @category notification
 */
export class UnsubscribedError extends DomainErrorClass<UnsubscribedError>()("UnsubscribedError", {
  code: "UNSUBSCRIBED",
  status: 409,
  message: "Recipient has unsubscribed from notifications",
  details: { user_id: OptionalString, notification_type: OptionalString, unsubscribed_at: OptionalString }
}) {}
