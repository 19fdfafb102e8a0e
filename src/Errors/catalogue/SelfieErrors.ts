/**
 * Selfie service errors (seed 002 `errors/selfie.py`). The validation ones are `422`, like `ValidationError`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { DomainErrorClass, OptionalNumber, OptionalString } from "../GlamError.js"

const OptionalStrings = Schema.optional(Schema.Array(Schema.String))

/**
 * A selfie does not exist (`SELFIE_NOT_FOUND`, 404).
 *
 * @since 0.1.0
 * @category selfie
 */
export class SelfieNotFoundError extends DomainErrorClass<SelfieNotFoundError>()("SelfieNotFoundError", {
  code: "SELFIE_NOT_FOUND",
  status: 404,
  message: "Selfie not found",
  details: { resource_id: OptionalString, user_id: OptionalString },
  fixed: { resource: "selfie" }
}) {}

/**
 * The image format is not supported (`INVALID_IMAGE_FORMAT`, 422).
 *
 * @since 0.1.0
 * @category selfie
 */
export class InvalidImageFormatError extends DomainErrorClass<InvalidImageFormatError>()("InvalidImageFormatError", {
  code: "INVALID_IMAGE_FORMAT",
  status: 422,
  message: "Image format not supported",
  details: { provided_format: OptionalString, supported_formats: OptionalStrings }
}) {}

/**
 * The image exceeds the size limit (`IMAGE_TOO_LARGE`, 422).
 *
 * @since 0.1.0
 * @category selfie
 */
export class ImageTooLargeError extends DomainErrorClass<ImageTooLargeError>()("ImageTooLargeError", {
  code: "IMAGE_TOO_LARGE",
  status: 422,
  message: "Image exceeds size limit",
  details: { size_bytes: OptionalNumber, max_size_bytes: OptionalNumber }
}) {}

/**
 * The image is below the minimum dimensions (`IMAGE_TOO_SMALL`, 422).
 *
 * @since 0.1.0
 * @category selfie
 */
export class ImageTooSmallError extends DomainErrorClass<ImageTooSmallError>()("ImageTooSmallError", {
  code: "IMAGE_TOO_SMALL",
  status: 422,
  message: "Image below minimum dimensions",
  details: { width: OptionalNumber, height: OptionalNumber, min_width: OptionalNumber, min_height: OptionalNumber }
}) {}

/**
 * No face was found in the image (`NO_FACE_DETECTED`, 422).
 *
 * @since 0.1.0
 * @category selfie
 */
export class NoFaceDetectedError extends DomainErrorClass<NoFaceDetectedError>()("NoFaceDetectedError", {
  code: "NO_FACE_DETECTED",
  status: 422,
  message: "No face detected in the image",
  details: {}
}) {}

/**
 * More than one face was found (`MULTIPLE_FACES_DETECTED`, 422).
 *
 * @since 0.1.0
 * @category selfie
 */
export class MultipleFacesDetectedError
  extends DomainErrorClass<MultipleFacesDetectedError>()("MultipleFacesDetectedError", {
    code: "MULTIPLE_FACES_DETECTED",
    status: 422,
    message: "Multiple faces detected in the image",
    details: { face_count: OptionalNumber }
  })
{}

/**
 * The image quality is too low for analysis (`POOR_IMAGE_QUALITY`, 422).
 *
 * @since 0.1.0
 * @category selfie
 */
export class PoorImageQualityError extends DomainErrorClass<PoorImageQualityError>()("PoorImageQualityError", {
  code: "POOR_IMAGE_QUALITY",
  status: 422,
  message: "Image quality too low for analysis",
  details: { quality_score: OptionalNumber, min_quality_score: OptionalNumber, quality_issues: OptionalStrings }
}) {}
