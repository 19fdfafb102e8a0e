/**
 * The whole catalogue: every error class, groupings as unions, and look-up by wire code.
 *
 * @since 0.1.0
 */
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as AnalysisErrors from "./catalogue/AnalysisErrors.js"
import * as CatalogErrors from "./catalogue/CatalogErrors.js"
import * as NotificationErrors from "./catalogue/NotificationErrors.js"
import * as ProfileErrors from "./catalogue/ProfileErrors.js"
import * as SelfieErrors from "./catalogue/SelfieErrors.js"
import * as CommonErrors from "./CommonErrors.js"
import { isGlamError } from "./GlamError.js"
import * as InfrastructureErrors from "./InfrastructureErrors.js"

/**
 * Every error class of the catalogue: seed 002's, in its order, then the toolkit's own
 * (`TransactionOutcomeUnknownError`).
 *
 * @since 0.1.0
 * @category catalogue
 */
export const classes = [
  CommonErrors.DomainRuleError,
  CommonErrors.ValidationError,
  CommonErrors.NotFoundError,
  CommonErrors.ConflictError,
  CommonErrors.UnauthorizedError,
  CommonErrors.ForbiddenError,
  CommonErrors.RateLimitedError,
  CommonErrors.InfrastructureFailureError,
  CommonErrors.ServiceUnavailableError,
  CommonErrors.RequestTimeoutError,
  CommonErrors.InternalError,
  InfrastructureErrors.DatabaseError,
  InfrastructureErrors.RedisError,
  InfrastructureErrors.S3Error,
  InfrastructureErrors.UpstreamServiceError,
  InfrastructureErrors.CircuitOpenError,
  InfrastructureErrors.MessageBusError,
  CatalogErrors.SyncInProgressError,
  CatalogErrors.SyncNotFoundError,
  CatalogErrors.SyncNotResumableError,
  CatalogErrors.SyncNotCancellableError,
  CatalogErrors.ItemNotFoundError,
  CatalogErrors.ParentSyncNotFoundError,
  ProfileErrors.ProfileNotFoundError,
  ProfileErrors.ProfileAlreadyExistsError,
  ProfileErrors.ProfileCreationFailedError,
  AnalysisErrors.AnalysisInProgressError,
  AnalysisErrors.AnalysisNotFoundError,
  AnalysisErrors.AnalysisNotCancellableError,
  AnalysisErrors.NoCurrentAnalysisError,
  SelfieErrors.SelfieNotFoundError,
  SelfieErrors.InvalidImageFormatError,
  SelfieErrors.ImageTooLargeError,
  SelfieErrors.ImageTooSmallError,
  SelfieErrors.NoFaceDetectedError,
  SelfieErrors.MultipleFacesDetectedError,
  SelfieErrors.PoorImageQualityError,
  NotificationErrors.NotificationNotFoundError,
  NotificationErrors.TemplateNotFoundError,
  NotificationErrors.TemplateRenderError,
  NotificationErrors.InvalidRecipientError,
  NotificationErrors.PreferencesNotFoundError,
  NotificationErrors.EmailProviderError,
  NotificationErrors.UnsubscribedError,
  InfrastructureErrors.TransactionOutcomeUnknownError
] as const

/**
 * Any error class of the catalogue.
 *
 * @since 0.1.0
 * @category catalogue
 */
export type AnyErrorClass = (typeof classes)[number]

/**
 * Any error of the catalogue.
 *
 * @since 0.1.0
 * @category catalogue
 */
export type AnyGlamError = InstanceType<AnyErrorClass>

/**
 * Business rule failures (the Python `DomainError` subtree): never retryable, 4xx.
 *
 * @since 0.1.0
 * @category groupings
 */
export type DomainError = Extract<AnyGlamError, { readonly kind: "domain" }>

/**
 * Failures of external dependencies (the Python `InfrastructureError` subtree): 5xx, usually retryable.
 *
 * @since 0.1.0
 * @category groupings
 */
export type InfrastructureError = Extract<AnyGlamError, { readonly kind: "infrastructure" }>

/**
 * Whether a value is a domain error of the catalogue.
 *
 * @since 0.1.0
 * @category groupings
 */
export const isDomainError = (u: unknown): u is DomainError => isGlamError(u) && u.kind === "domain"

/**
 * Whether a value is an infrastructure error of the catalogue.
 *
 * @since 0.1.0
 * @category groupings
 */
export const isInfrastructureError = (u: unknown): u is InfrastructureError =>
  isGlamError(u) && u.kind === "infrastructure"

/**
 * A schema for any error of the catalogue (encode to and decode from its tagged JSON form).
 *
 * @since 0.1.0
 * @category schemas
 */
export const AnyGlamErrorSchema: Schema.Union<typeof classes> = Schema.Union(...classes)

const byCode: ReadonlyMap<string, AnyErrorClass> = new Map(classes.map((cls) => [cls.code, cls] as const))

/**
 * The error class whose wire `code` this is (for example `ITEM_NOT_FOUND` -> `ItemNotFoundError`).
 *
 * @since 0.1.0
 * @category catalogue
 */
export const classForCode = (code: string): Option.Option<AnyErrorClass> => Option.fromNullable(byCode.get(code))
