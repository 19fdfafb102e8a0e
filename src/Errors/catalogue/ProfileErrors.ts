/**
 * Profile service errors (seed 002 `errors/profile.py`).
 *
 * @since 0.1.0
 */
import { DomainErrorClass, OptionalString } from "../GlamError.js"

/**
 * A user profile does not exist (`PROFILE_NOT_FOUND`, 404).
 *
 * @since 0.1.0
 * @category profile
 */
export class ProfileNotFoundError extends DomainErrorClass<ProfileNotFoundError>()("ProfileNotFoundError", {
  code: "PROFILE_NOT_FOUND",
  status: 404,
  message: "Profile not found",
  details: { user_id: OptionalString, profile_id: OptionalString },
  fixed: { resource: "profile" }
}) {}

/**
 * The user already has a profile (`PROFILE_ALREADY_EXISTS`, 409).
 *
 * @since 0.1.0
 * @category profile
 */
export class ProfileAlreadyExistsError
  extends DomainErrorClass<ProfileAlreadyExistsError>()("ProfileAlreadyExistsError", {
    code: "PROFILE_ALREADY_EXISTS",
    status: 409,
    message: "Profile already exists",
    details: { user_id: OptionalString, existing_profile_id: OptionalString },
    fixed: { conflicting_resource: "profile" }
  })
{}

/**
 * A profile could not be created (`PROFILE_CREATION_FAILED`, 422).
 *
 * @since 0.1.0
 * @category profile
 */
export class ProfileCreationFailedError
  extends DomainErrorClass<ProfileCreationFailedError>()("ProfileCreationFailedError", {
    code: "PROFILE_CREATION_FAILED",
    status: 422,
    message: "Profile creation failed",
    details: { user_id: OptionalString, reason: OptionalString }
  })
{}
