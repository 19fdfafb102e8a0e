/**
 * The shape every error of the catalogue shares, and the two constructors that build error classes.
 *
 * Python's three-tier class hierarchy (`GlamBaseError` -> `DomainError` / `InfrastructureError`) becomes
 * tagged errors with a `kind`: callers match on `_tag` with `Effect.catchTag(s)`, and groupings are unions
 * (see `ErrorCatalogue`).
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * Marks instances of the catalogue, whatever their tag.
 *
 * @since 0.1.0
 * @category symbols
 */
export const BrandKey = "~@glam/shared/GlamError" as const

/**
 * @since 0.1.0
 * @category symbols
 */
export type BrandKey = typeof BrandKey

/**
 * Which tier of the Python hierarchy an error belongs to.
 *
 * @since 0.1.0
 * @category models
 */
export type ErrorKind = "domain" | "infrastructure" | "internal"

/**
 * What every error of the catalogue exposes: the stable wire `code`, its HTTP `status`, whether a retry
 * may succeed, and the `details` object of the API envelope.
 *
 * @since 0.1.0
 * @category models
 */
export interface GlamError extends Error {
  readonly [BrandKey]: true
  readonly _tag: string
  readonly kind: ErrorKind
  readonly code: string
  readonly status: number
  readonly retryable: boolean
  readonly message: string
  readonly details: { readonly [key: string]: unknown }
  /** The details as the Python services put them on the wire (fixed entries such as `resource` included). */
  readonly responseDetails: { readonly [key: string]: unknown }
}

/**
 * Whether a value is an error of the catalogue.
 *
 * @since 0.1.0
 * @category guards
 */
export const isGlamError = (u: unknown): u is GlamError => Predicate.hasProperty(u, BrandKey)

/**
 * The details schema of an error: its known keys (all optional) plus any other key, as Python's free
 * `details` dict allowed.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Details = <Known extends Schema.Struct.Fields>(known: Known) =>
  Schema.Struct(known, Schema.Record({ key: Schema.String, value: Schema.Unknown }))

type DetailsSchema<Known extends Schema.Struct.Fields> = ReturnType<typeof Details<Known>>

/**
 * An optional string detail (the Python constructors' `Optional[str] = None` keyword arguments).
 *
 * @since 0.1.0
 * @category schemas
 */
export const OptionalString = Schema.optional(Schema.String)

/**
 * An optional numeric detail.
 *
 * @since 0.1.0
 * @category schemas
 */
export const OptionalNumber = Schema.optional(Schema.Number)

/**
 * The definition of one error class: its wire code, status, default message, known detail keys and the
 * detail entries the Python constructor always set (for example `resource: "item"`).
 *
 * @since 0.1.0
 * @category models
 */
export interface ErrorSpec<Code extends string, Status extends number, Known extends Schema.Struct.Fields> {
  readonly code: Code
  readonly status: Status
  readonly message: string
  readonly details: Known
  readonly fixed?: { readonly [key: string]: unknown }
}

type CommonFields<Known extends Schema.Struct.Fields> = {
  readonly message: Schema.optionalWith<typeof Schema.String, { default: () => string }>
  readonly details: Schema.optionalWith<
    DetailsSchema<Known>,
    { default: () => Schema.Schema.Type<DetailsSchema<Known>> }
  >
  readonly cause: Schema.optional<typeof Schema.Defect>
}

type InfrastructureFields<Known extends Schema.Struct.Fields> = CommonFields<Known> & {
  readonly retryable: Schema.optionalWith<typeof Schema.Boolean, { default: () => boolean }>
}

type Tagged<Tag extends string, Fields> = { readonly _tag: Schema.tag<Tag> } & Fields

const commonFields = <Known extends Schema.Struct.Fields>(
  spec: ErrorSpec<string, number, Known>
): CommonFields<Known> => ({
  message: Schema.optionalWith(Schema.String, { default: () => spec.message }),
  details: Schema.optionalWith(Details(spec.details), {
    default: () => ({}) as Schema.Schema.Type<DetailsSchema<Known>>
  }),
  cause: Schema.optional(Schema.Defect)
})

const compact = (record: { readonly [key: string]: unknown }): { [key: string]: unknown } => {
  const out: { [key: string]: unknown } = {}
  for (const [key, value] of Object.entries(record)) {
    if (value !== undefined) out[key] = value
  }
  return out
}

/**
 * The members every class of the catalogue adds to its schema fields.
 *
 * @since 0.1.0
 * @category models
 */
export interface GlamErrorMembers<Kind extends ErrorKind, Code extends string, Status extends number> {
  readonly [BrandKey]: true
  readonly kind: Kind
  readonly code: Code
  readonly status: Status
  readonly retryable: boolean
  readonly responseDetails: { readonly [key: string]: unknown }
}

/**
 * The static side of every class of the catalogue: its schema plus `code` and `status`.
 *
 * @since 0.1.0
 * @category models
 */
export interface GlamErrorClass<
  Self,
  Tag extends string,
  Fields extends Schema.Struct.Fields,
  Kind extends ErrorKind,
  Code extends string,
  Status extends number
> extends
  Schema.Class<
    Self,
    Tagged<Tag, Fields>,
    Schema.Struct.Encoded<Tagged<Tag, Fields>>,
    Schema.Struct.Context<Tagged<Tag, Fields>>,
    Schema.Struct.Constructor<Fields>,
    GlamErrorMembers<Kind, Code, Status>,
    Cause.YieldableError
  >
{
  readonly _tag: Tag
  readonly code: Code
  readonly status: Status
  readonly kind: Kind
}

const build = <Self, Tag extends string, Fields extends Schema.Struct.Fields, Kind extends ErrorKind>(
  tag: Tag,
  fields: Fields,
  kind: Kind,
  spec: ErrorSpec<string, number, Schema.Struct.Fields>,
  responseDetails: (self: { details: object; retryable: boolean }) => { readonly [key: string]: unknown },
  fixedRetryable: boolean | undefined
) => {
  const Base = Schema.TaggedError<Self>()(tag, fields) as unknown as new(
    props: unknown,
    disableValidation?: boolean
  ) => object
  class GlamErrorBase extends Base {
    static readonly code = spec.code
    static readonly status = spec.status
    static readonly kind = kind
    constructor(props: unknown, disableValidation?: boolean) {
      super(props, disableValidation)
      Object.defineProperty(this, BrandKey, { value: true })
      Object.defineProperty(this, "kind", { value: kind, enumerable: false })
      Object.defineProperty(this, "code", { value: spec.code, enumerable: false })
      Object.defineProperty(this, "status", { value: spec.status, enumerable: false })
      if (fixedRetryable !== undefined) {
        Object.defineProperty(this, "retryable", { value: fixedRetryable, enumerable: false })
      }
    }
    get responseDetails(): { readonly [key: string]: unknown } {
      return responseDetails(this as unknown as { details: object; retryable: boolean })
    }
  }
  return GlamErrorBase
}

/**
 * Builds a domain error class (business rule failures; never retryable).
 *
 * @example
 * ```ts
 * import { DomainErrorClass, OptionalString } from "@glam/shared/Errors"
 *
 * class CartLockedError extends DomainErrorClass<CartLockedError>()("CartLockedError", {
 *   code: "CART_LOCKED",
 *   status: 409,
 *   message: "Cart is locked",
 *   details: { cart_id: OptionalString }
 * }) {}
 *
 * new CartLockedError({ details: { cart_id: "c1" } })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const DomainErrorClass = <Self>() =>
<
  const Tag extends string,
  const Code extends string,
  const Status extends number,
  Known extends Schema.Struct.Fields
>(
  tag: Tag,
  spec: ErrorSpec<Code, Status, Known>
): GlamErrorClass<Self, Tag, CommonFields<Known>, "domain", Code, Status> => {
  const fixed = spec.fixed ?? {}
  return build<Self, Tag, CommonFields<Known>, "domain">(
    tag,
    commonFields(spec),
    "domain",
    spec,
    (self) => compact({ ...fixed, ...self.details }),
    false
  ) as unknown as GlamErrorClass<Self, Tag, CommonFields<Known>, "domain", Code, Status>
}

/**
 * Builds an infrastructure error class (failures of databases, brokers, upstream services). Retryable by
 * default, as Python's `InfrastructureError`; an instance may say otherwise with `retryable: false`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const InfrastructureErrorClass = <Self>() =>
<
  const Tag extends string,
  const Code extends string,
  const Status extends number,
  Known extends Schema.Struct.Fields
>(
  tag: Tag,
  spec: ErrorSpec<Code, Status, Known> & { readonly retryable?: boolean }
): GlamErrorClass<Self, Tag, InfrastructureFields<Known>, "infrastructure", Code, Status> => {
  const fixed = spec.fixed ?? {}
  const retryableByDefault = spec.retryable ?? true
  const fields: InfrastructureFields<Known> = {
    ...commonFields(spec),
    retryable: Schema.optionalWith(Schema.Boolean, { default: () => retryableByDefault })
  }
  return build<Self, Tag, InfrastructureFields<Known>, "infrastructure">(
    tag,
    fields,
    "infrastructure",
    spec,
    // Python's InfrastructureError always wrote `service` (when known) and `retryable` into details.
    (self) => compact({ ...fixed, ...self.details, retryable: self.retryable }),
    undefined
  ) as unknown as GlamErrorClass<Self, Tag, InfrastructureFields<Known>, "infrastructure", Code, Status>
}

/**
 * Builds the internal error class (unexpected failures; status 500, never retryable).
 *
 * @since 0.1.0
 * @category constructors
 */
export const InternalErrorClass = <Self>() =>
<
  const Tag extends string,
  const Code extends string,
  const Status extends number,
  Known extends Schema.Struct.Fields
>(
  tag: Tag,
  spec: ErrorSpec<Code, Status, Known>
): GlamErrorClass<Self, Tag, CommonFields<Known>, "internal", Code, Status> =>
  build<Self, Tag, CommonFields<Known>, "internal">(
    tag,
    commonFields(spec),
    "internal",
    spec,
    (self) => compact({ ...self.details }),
    false
  ) as unknown as GlamErrorClass<Self, Tag, CommonFields<Known>, "internal", Code, Status>

/**
 * @since 0.1.0
 * @category models
 */
export type { DetailsSchema }
