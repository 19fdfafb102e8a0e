/**
 * Analysis service errors (seed 002 `errors/analysis.py`).
 *
 * @since 0.1.0
 */
import { DomainErrorClass, OptionalString } from "../GlamError.js"

/**
 * Another analysis is already running (`ANALYSIS_IN_PROGRESS`, 409).
 *
 * @since 0.1.0
 * @category analysis
 */
export class AnalysisInProgressError extends DomainErrorClass<AnalysisInProgressError>()("AnalysisInProgressError", {
  code: "ANALYSIS_IN_PROGRESS",
  status: 409,
  message: "Another analysis is already in progress",
  details: { current_analysis_id: OptionalString, user_id: OptionalString, started_at: OptionalString }
}) {}

/**
 * An analysis does not exist (`ANALYSIS_NOT_FOUND`, 404).
 *
 * @since 0.1.0
 * @category analysis
 */
export class AnalysisNotFoundError extends DomainErrorClass<AnalysisNotFoundError>()("AnalysisNotFoundError", {
  code: "ANALYSIS_NOT_FOUND",
  status: 404,
  message: "Analysis not found",
  details: { resource_id: OptionalString, user_id: OptionalString },
  fixed: { resource: "analysis" }
}) {}

/**
 * An analysis cannot be cancelled in its current state (`ANALYSIS_NOT_CANCELLABLE`, 409).
 *
 * @since 0.1.0
 * @category analysis
 */
export class AnalysisNotCancellableError
  extends DomainErrorClass<AnalysisNotCancellableError>()("AnalysisNotCancellableError", {
    code: "ANALYSIS_NOT_CANCELLABLE",
    status: 409,
    message: "Analysis cannot be cancelled",
    details: { analysis_id: OptionalString, current_status: OptionalString, reason: OptionalString }
  })
{}

/**
 * No completed analysis is available (`NO_CURRENT_ANALYSIS`, 404).
 *
 * @since 0.1.0
 * @category analysis
 */
export class NoCurrentAnalysisError extends DomainErrorClass<NoCurrentAnalysisError>()("NoCurrentAnalysisError", {
  code: "NO_CURRENT_ANALYSIS",
  status: 404,
  message: "No completed analysis available",
  details: { user_id: OptionalString },
  fixed: { resource: "current_analysis" }
}) {}
