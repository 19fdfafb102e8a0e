/**
 * Catalog service errors (seed 002 `errors/catalog.py`).
 *
 * @since 0.1.0
 */
import { DomainErrorClass, OptionalString } from "../GlamError.js"

/**
 * Another sync is already running (`SYNC_IN_PROGRESS`, 409).
 *
 * @since 0.1.0
 * @category catalog
 */
export class SyncInProgressError extends DomainErrorClass<SyncInProgressError>()("SyncInProgressError", {
  code: "SYNC_IN_PROGRESS",
  status: 409,
  message: "Another sync is already in progress",
  details: { current_sync_id: OptionalString, merchant_id: OptionalString }
}) {}

/**
 * A sync operation does not exist (`SYNC_NOT_FOUND`, 404).
 *
 * @since 0.1.0
 * @category catalog
 */
export class SyncNotFoundError extends DomainErrorClass<SyncNotFoundError>()("SyncNotFoundError", {
  code: "SYNC_NOT_FOUND",
  status: 404,
  message: "Sync not found",
  details: { resource_id: OptionalString },
  fixed: { resource: "sync" }
}) {}

/**
 * A sync cannot be resumed in its current state (`SYNC_NOT_RESUMABLE`, 409).
 *
 * @since 0.1.0
 * @category catalog
 */
export class SyncNotResumableError extends DomainErrorClass<SyncNotResumableError>()("SyncNotResumableError", {
  code: "SYNC_NOT_RESUMABLE",
  status: 409,
  message: "Sync cannot be resumed",
  details: { sync_id: OptionalString, sync_status: OptionalString, reason: OptionalString }
}) {}

/**
 * A sync cannot be cancelled in its current state (`SYNC_NOT_CANCELLABLE`, 409).
 *
 * @since 0.1.0
 * @category catalog
 */
export class SyncNotCancellableError extends DomainErrorClass<SyncNotCancellableError>()("SyncNotCancellableError", {
  code: "SYNC_NOT_CANCELLABLE",
  status: 409,
  message: "Sync cannot be cancelled",
  details: { sync_id: OptionalString, sync_status: OptionalString }
}) {}

/**
 * An item is not in the catalog (`ITEM_NOT_FOUND`, 404).
 *
 * @since 0.1.0
 * @category catalog
 */
export class ItemNotFoundError extends DomainErrorClass<ItemNotFoundError>()("ItemNotFoundError", {
  code: "ITEM_NOT_FOUND",
  status: 404,
  message: "Item not found",
  details: { resource_id: OptionalString, merchant_id: OptionalString },
  fixed: { resource: "item" }
}) {}

/**
 * The parent sync of a resume does not exist (`PARENT_SYNC_NOT_FOUND`, 404).
 *
 * @since 0.1.0
 * @category catalog
 */
export class ParentSyncNotFoundError extends DomainErrorClass<ParentSyncNotFoundError>()("ParentSyncNotFoundError", {
  code: "PARENT_SYNC_NOT_FOUND",
  status: 404,
  message: "Parent sync not found",
  details: { resource_id: OptionalString },
  fixed: { resource: "parent_sync" }
}) {}
