import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Either, Exit, Schema } from "effect"
import * as fc from "fast-check"
import * as Errors from "../src/Errors/index.js"
import { readVector } from "./support/interop.js"

const vector = (name: string) => JSON.parse(readVector("http", name).toString("utf8"))

// code, status and retryability as seed 002's errors/ package defines them (class attributes and
// InfrastructureError's retryable default).
const seed: ReadonlyArray<readonly [string, string, number, boolean]> = [
  ["DomainRuleError", "DOMAIN_ERROR", 400, false],
  ["ValidationError", "VALIDATION_ERROR", 422, false],
  ["NotFoundError", "NOT_FOUND", 404, false],
  ["ConflictError", "CONFLICT", 409, false],
  ["UnauthorizedError", "UNAUTHORIZED", 401, false],
  ["ForbiddenError", "FORBIDDEN", 403, false],
  ["RateLimitedError", "RATE_LIMITED", 429, false],
  ["InfrastructureFailureError", "INFRASTRUCTURE_ERROR", 503, true],
  ["ServiceUnavailableError", "SERVICE_UNAVAILABLE", 503, true],
  ["RequestTimeoutError", "TIMEOUT", 504, true],
  ["InternalError", "INTERNAL_ERROR", 500, false],
  ["DatabaseError", "DATABASE_ERROR", 503, true],
  ["RedisError", "REDIS_ERROR", 503, true],
  ["S3Error", "S3_ERROR", 503, true],
  ["UpstreamServiceError", "UPSTREAM_SERVICE_ERROR", 503, true],
  ["CircuitOpenError", "CIRCUIT_OPEN", 503, false],
  ["MessageBusError", "MESSAGE_BUS_ERROR", 503, true],
  ["SyncInProgressError", "SYNC_IN_PROGRESS", 409, false],
  ["SyncNotFoundError", "SYNC_NOT_FOUND", 404, false],
  ["SyncNotResumableError", "SYNC_NOT_RESUMABLE", 409, false],
  ["SyncNotCancellableError", "SYNC_NOT_CANCELLABLE", 409, false],
  ["ItemNotFoundError", "ITEM_NOT_FOUND", 404, false],
  ["ParentSyncNotFoundError", "PARENT_SYNC_NOT_FOUND", 404, false],
  ["ProfileNotFoundError", "PROFILE_NOT_FOUND", 404, false],
  ["ProfileAlreadyExistsError", "PROFILE_ALREADY_EXISTS", 409, false],
  ["ProfileCreationFailedError", "PROFILE_CREATION_FAILED", 422, false],
  ["AnalysisInProgressError", "ANALYSIS_IN_PROGRESS", 409, false],
  ["AnalysisNotFoundError", "ANALYSIS_NOT_FOUND", 404, false],
  ["AnalysisNotCancellableError", "ANALYSIS_NOT_CANCELLABLE", 409, false],
  ["NoCurrentAnalysisError", "NO_CURRENT_ANALYSIS", 404, false],
  ["SelfieNotFoundError", "SELFIE_NOT_FOUND", 404, false],
  ["InvalidImageFormatError", "INVALID_IMAGE_FORMAT", 422, false],
  ["ImageTooLargeError", "IMAGE_TOO_LARGE", 422, false],
  ["ImageTooSmallError", "IMAGE_TOO_SMALL", 422, false],
  ["NoFaceDetectedError", "NO_FACE_DETECTED", 422, false],
  ["MultipleFacesDetectedError", "MULTIPLE_FACES_DETECTED", 422, false],
  ["PoorImageQualityError", "POOR_IMAGE_QUALITY", 422, false],
  ["NotificationNotFoundError", "NOTIFICATION_NOT_FOUND", 404, false],
  ["TemplateNotFoundError", "TEMPLATE_NOT_FOUND", 404, false],
  ["TemplateRenderError", "TEMPLATE_RENDER_ERROR", 422, false],
  ["InvalidRecipientError", "INVALID_RECIPIENT", 422, false],
  ["PreferencesNotFoundError", "PREFERENCES_NOT_FOUND", 404, false],
  ["EmailProviderError", "EMAIL_PROVIDER_ERROR", 503, true],
  ["UnsubscribedError", "UNSUBSCRIBED", 409, false]
]

// The toolkit's own errors, after the seed's.
const additions: ReadonlyArray<readonly [string, string, number, boolean]> = [
  ["TransactionOutcomeUnknownError", "TRANSACTION_OUTCOME_UNKNOWN", 500, false]
]

describe("Errors catalogue", () => {
  it("has exactly the seed's errors then the toolkit's, each with its code, status and retryability", () => {
    const catalogue = [...seed, ...additions]
    expect(Errors.ErrorCatalogue.classes.map((cls) => cls._tag)).toEqual(catalogue.map(([tag]) => tag))
    for (const [tag, code, status, retryable] of catalogue) {
      const cls = Errors.ErrorCatalogue.classes.find((c) => c._tag === tag)!
      const error = new (cls as unknown as new(props: object) => Errors.ErrorCatalogue.AnyGlamError)({})
      expect({ tag: error._tag, code: error.code, status: error.status, retryable: error.retryable }).toEqual({
        tag,
        code,
        status,
        retryable
      })
      expect([cls.code, cls.status]).toEqual([code, status])
      expect(Errors.ErrorCatalogue.classForCode(code).pipe((o) => o._tag === "Some" && o.value === cls)).toBe(true)
    }
  })

  it("groups errors by tier", () => {
    expect(Errors.ErrorCatalogue.isDomainError(new Errors.CatalogErrors.ItemNotFoundError({}))).toBe(true)
    expect(Errors.ErrorCatalogue.isInfrastructureError(new Errors.CatalogErrors.ItemNotFoundError({}))).toBe(false)
    expect(Errors.ErrorCatalogue.isInfrastructureError(new Errors.DatabaseError({}))).toBe(true)
    expect(Errors.ErrorCatalogue.isDomainError(new Errors.InternalError())).toBe(false)
    expect(Errors.isGlamError(new Error("x"))).toBe(false)
  })

  it.effect("is matched with catchTag and catchTags", () =>
    Effect.gen(function*() {
      const load = (id: string): Effect.Effect<string, Errors.CatalogErrors.ItemNotFoundError | Errors.DatabaseError> =>
        id === "42"
          ? Effect.fail(
            new Errors.CatalogErrors.ItemNotFoundError({
              message: `Item ${id} not found`,
              details: { resource_id: id }
            })
          )
          : Effect.fail(new Errors.DatabaseError({ details: { operation: "select" } }))
      const handled = yield* load("42").pipe(
        Effect.catchTags({
          ItemNotFoundError: (e) => Effect.succeed(`missing ${e.details.resource_id}`),
          DatabaseError: (e) => Effect.succeed(`db ${e.details.operation}`)
        })
      )
      expect(handled).toBe("missing 42")
      const other = yield* load("7").pipe(Effect.catchTag("DatabaseError", (e) => Effect.succeed(e.code)))
      expect(other).toBe("DATABASE_ERROR")
    }))

  it("encodes and decodes every error through its schema unchanged (property)", () => {
    const detailValue = fc.oneof(fc.string(), fc.integer(), fc.boolean())
    fc.assert(
      fc.property(
        fc.constantFrom(...Errors.ErrorCatalogue.classes),
        fc.string(),
        fc.dictionary(fc.string().filter((k) => k !== "__proto__"), detailValue, { maxKeys: 4 }),
        fc.boolean(),
        (cls, message, extra, retryable) => {
          const schema = cls as unknown as Schema.Schema<Errors.ErrorCatalogue.AnyGlamError, unknown>
          const input = { _tag: cls._tag, message, details: extra, retryable }
          const decoded = Schema.decodeUnknownEither(schema)(input)
          // Known keys have declared types; generated values of the wrong type must be refused, not kept.
          if (Either.isLeft(decoded)) return
          const error = decoded.right
          const encoded = Schema.encodeSync(schema)(error)
          const again = Schema.decodeUnknownSync(schema)(JSON.parse(JSON.stringify(encoded)))
          expect(again._tag).toBe(error._tag)
          expect(again.message).toBe(error.message)
          expect(again.details).toEqual(error.details)
          expect(again.retryable).toBe(error.retryable)
          expect(again.responseDetails).toEqual(error.responseDetails)
        }
      ),
      { numRuns: 300 }
    )
  })

  it("refuses a known detail of the wrong type", () => {
    const decoded = Schema.decodeUnknownEither(Errors.RateLimitedError)({
      _tag: "RateLimitedError",
      message: "x",
      details: { retry_after: "soon" }
    })
    expect(Either.isLeft(decoded)).toBe(true)
  })
})

describe("Errors response bodies", () => {
  it("reproduces the Python ITEM_NOT_FOUND body", () => {
    const error = new Errors.CatalogErrors.ItemNotFoundError({
      message: "Item 42 not found",
      details: { resource_id: "42", merchant_id: "7c9e6679-7425-40de-944b-e07fc1f90ae7" }
    })
    expect(Errors.ErrorResponse.toResponseBody(error)).toEqual(vector("error-not-found.json").error)
    expect(Errors.ErrorResponse.httpStatus(error)).toBe(404)
  })

  it("reproduces the Python VALIDATION_ERROR body", () => {
    const error = new Errors.ValidationError({
      message: "Request validation failed",
      details: {
        validation_errors: [{
          field: "query.limit",
          message: "Input should be less than or equal to 1000",
          type: "less_than_equal"
        }]
      }
    })
    expect(Errors.ErrorResponse.toResponseBody(error)).toEqual(vector("error-validation.json").error)
  })

  it("writes service and retryable into infrastructure details, as Python did", () => {
    expect(
      Errors.ErrorResponse.toResponseBody(
        new Errors.DatabaseError({ message: "down", details: { operation: "insert" } })
      )
    )
      .toEqual({
        code: "DATABASE_ERROR",
        message: "down",
        details: { service: "database", operation: "insert", retryable: true }
      })
    expect(
      Errors.ErrorResponse.toResponseBody(new Errors.CircuitOpenError({ details: { service: "billing" } })).details
    )
      .toEqual({ service: "billing", retryable: false })
  })

  it("omits empty details", () => {
    expect(Errors.ErrorResponse.toResponseBody(new Errors.SelfieErrors.NoFaceDetectedError())).toEqual({
      code: "NO_FACE_DETECTED",
      message: "No face detected in the image"
    })
  })

  it("never shows a foreign error, defect or cause to a client", () => {
    const secret = new Error("password=hunter2 at /srv/app.ts:10")
    for (const failure of [secret, "boom", undefined, { code: "X", message: "internal" }]) {
      expect(Errors.ErrorResponse.toResponseBody(failure)).toEqual({
        code: "INTERNAL_ERROR",
        message: "An unexpected error occurred"
      })
      expect(Errors.ErrorResponse.httpStatus(failure)).toBe(500)
    }
    const wrapped = Errors.ErrorMapping.wrap(Errors.DatabaseError, "Could not save", secret)
    expect(wrapped.cause).toBe(secret)
    expect(JSON.stringify(Errors.ErrorResponse.toResponseBody(wrapped))).not.toContain("hunter2")
    expect(Errors.ErrorResponse.fromCause(Cause.die(secret))).toEqual({
      status: 500,
      body: { code: "INTERNAL_ERROR", message: "An unexpected error occurred" }
    })
    expect(Errors.ErrorResponse.fromCause(Cause.fail(new Errors.ForbiddenError())).status).toBe(403)
  })

  it("turns an upstream body back into the same tagged error", () => {
    const body = vector("error-not-found.json").error
    const error = Errors.ErrorResponse.fromResponseBody(body)
    expect(error._tag).toBe("ItemNotFoundError")
    expect(error).toBeInstanceOf(Errors.CatalogErrors.ItemNotFoundError)
    expect(Errors.ErrorResponse.toResponseBody(error)).toEqual(body)
    const db = Errors.ErrorResponse.fromResponseBody({
      code: "DATABASE_ERROR",
      message: "x",
      details: { retryable: false }
    })
    expect(db.retryable).toBe(false)
    const unknown = Errors.ErrorResponse.fromResponseBody({ code: "LEGACY_FAILURE", message: "old" }, {
      service: "py",
      status: 500
    })
    expect(unknown._tag).toBe("UpstreamServiceError")
    expect(unknown.responseDetails).toMatchObject({ upstream_error: "LEGACY_FAILURE", upstream_status: 500 })
  })

  it("reads only the own keys of an upstream's details, and drops a \"__proto__\" key", () => {
    const hostile = (code: string) =>
      JSON.parse(
        `{"code":"${code}","message":"m","details":{"__proto__":{"polluted":true,"retryable":true},"sku":"a"}}`
      ) as Errors.ErrorResponse.ErrorBody
    // As it arrives (`JSON.parse` makes the key an own property), and as `ErrorBody` decodes it (the key has become
    // the prototype of the decoded details).
    for (const code of ["LEGACY_FAILURE", "ITEM_NOT_FOUND"]) {
      for (const body of [hostile(code), Schema.decodeUnknownSync(Errors.ErrorResponse.ErrorBody)(hostile(code))]) {
        const error = Errors.ErrorResponse.fromResponseBody(body, { service: "py", status: 404 })
        const details = error.details
        expect(Object.getPrototypeOf(details)).toBe(Object.prototype)
        expect(details["polluted"]).toBeUndefined()
        expect(details["sku"]).toBe("a")
        expect(Object.keys(details)).not.toContain("__proto__")
        expect(error.retryable).toBe(false)
        expect(Object.getPrototypeOf(error.responseDetails)).toBe(Object.prototype)
      }
    }
  })
})

describe("Errors mapping", () => {
  it("classifies HTTP failures as classify_http_error did", () => {
    const c = (failure: Errors.ErrorMapping.HttpFailure) =>
      Errors.ErrorMapping.classifyHttpFailure(failure, { service: "billing" })
    expect(c({ _tag: "Timeout" })).toMatchObject({ _tag: "RequestTimeoutError", retryable: true })
    const limited = c({ _tag: "Status", status: 429, retryAfter: "30" })
    expect(limited).toMatchObject({ _tag: "RateLimitedError", details: { retry_after: 30 } })
    expect(c({ _tag: "Status", status: 503 })).toMatchObject({ _tag: "ServiceUnavailableError", retryable: true })
    expect(c({ _tag: "Status", status: 503, retryAfter: "5" })).toMatchObject({
      _tag: "ServiceUnavailableError",
      details: { service: "billing", retry_after: 5 }
    })
    expect(c({ _tag: "Status", status: 502, endpoint: "/x" })).toMatchObject({
      _tag: "UpstreamServiceError",
      retryable: true,
      details: { upstream_status: 502, endpoint: "/x", service: "billing" }
    })
    expect(c({ _tag: "Status", status: 404 })).toMatchObject({ _tag: "UpstreamServiceError", retryable: false })
    expect(c({ _tag: "Transport" })).toMatchObject({ _tag: "InfrastructureFailureError", retryable: true })
    expect(Errors.ErrorMapping.parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", new Date("2015-10-21T07:27:00Z"))).toBe(
      60
    )
    expect(Errors.ErrorMapping.parseRetryAfter("soon")).toBeUndefined()
  })

  it("decides retryability", () => {
    expect(Errors.ErrorMapping.isRetryable(new Errors.DatabaseError({}))).toBe(true)
    expect(Errors.ErrorMapping.isRetryable(new Errors.DatabaseError({ retryable: false }))).toBe(false)
    expect(Errors.ErrorMapping.isRetryable(new Errors.CircuitOpenError())).toBe(false)
    expect(Errors.ErrorMapping.isRetryable(new Errors.ValidationError())).toBe(false)
    expect(Errors.ErrorMapping.isRetryable(new Cause.TimeoutException())).toBe(true)
    expect(Errors.ErrorMapping.isRetryable(Object.assign(new Error("x"), { code: "ECONNRESET" }))).toBe(true)
    expect(Errors.ErrorMapping.isRetryable(new Error("x"))).toBe(false)
  })

  it("a transaction outcome unknown is a 500 with its code, never retryable, here or when an upstream answers it", () => {
    const error = new Errors.TransactionOutcomeUnknownError({ details: { operation: "transaction" } })
    expect(Errors.ErrorMapping.isRetryable(error)).toBe(false)
    const { body, status } = Errors.ErrorResponse.fromCause(Cause.fail(error))
    expect(status).toBe(500)
    expect(body).toEqual({
      code: "TRANSACTION_OUTCOME_UNKNOWN",
      message: "The database connection was lost during COMMIT: the transaction may or may not have committed",
      details: { service: "database", operation: "transaction", retryable: false }
    })
    // What a ServiceClient makes of the answer: the same error, which its retry policy leaves alone.
    const upstream = Errors.ErrorResponse.fromResponseBody(body, { service: "catalog", status })
    expect(upstream).toBeInstanceOf(Errors.TransactionOutcomeUnknownError)
    expect(Errors.ErrorMapping.isRetryable(upstream)).toBe(false)
  })

  class FileMissing extends Error {}
  class Denied extends Error {}

  it.effect("maps foreign failures by a table, keeps ours, and defaults the rest", () =>
    Effect.gen(function*() {
      const table = [
        Errors.ErrorMapping.mapInstancesOf(
          FileMissing,
          (message, cause) => new Errors.NotFoundError({ message, cause })
        ),
        Errors.ErrorMapping.mapInstancesOf(Denied, (message, cause) => new Errors.ForbiddenError({ message, cause }))
      ]
      const missing = yield* Effect.fail(new FileMissing("no such file")).pipe(
        Errors.ErrorMapping.mapErrors(table),
        Effect.flip
      )
      expect(missing).toMatchObject({ _tag: "NotFoundError", message: "no such file" })
      expect(missing.cause).toBeInstanceOf(FileMissing)
      const fromPromise = yield* Effect.tryPromise(() => Promise.reject(new Denied("nope"))).pipe(
        Errors.ErrorMapping.mapErrors(table),
        Effect.flip
      )
      expect(fromPromise._tag).toBe("ForbiddenError")
      const ours = yield* Effect.fail(new Errors.ConflictError()).pipe(
        Errors.ErrorMapping.mapErrors(table),
        Effect.flip
      )
      expect(ours._tag).toBe("ConflictError")
      const other = yield* Effect.fail(new TypeError("")).pipe(Errors.ErrorMapping.mapErrors(table), Effect.flip)
      expect(other).toMatchObject({ _tag: "InfrastructureFailureError", message: "Operation failed" })
      const defect = yield* Effect.die(new Denied("late")).pipe(
        Errors.ErrorMapping.mapErrors(table, { defects: true }),
        Effect.exit
      )
      expect(Exit.isFailure(defect) && Cause.failureOption(defect.cause)).toMatchObject({
        value: { _tag: "ForbiddenError" }
      })
      const untouched = yield* Effect.die(new Denied("late")).pipe(Errors.ErrorMapping.mapErrors(table), Effect.exit)
      expect(Exit.isFailure(untouched) && Cause.isDie(untouched.cause)).toBe(true)
    }))
})
