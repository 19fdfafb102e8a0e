/**
 * Decoding and encoding an event's payload with its definition's schemas, compiled once per schema (public face:
 * `Events/Events`).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { EventDefinition } from "../Events.js"

/** @internal */
export const schemaVersionOf = (schemaVersion: unknown): Option.Option<number> =>
  schemaVersion === undefined
    ? Option.some(1)
    : typeof schemaVersion === "number" && Number.isSafeInteger(schemaVersion) && schemaVersion >= 1
    ? Option.some(schemaVersion)
    : Option.none()

/** @internal */
export const decodePayload = <A, I>(
  self: EventDefinition<A, I>,
  version: number,
  payload: unknown
): Effect.Effect<A, ParseResult.ParseError | VersionUnsupported> => {
  const decoder = self.decoders.get(version)
  if (decoder === undefined) {
    return Either.left(new VersionUnsupported({ version, accepted: [...self.decoders.keys()] }))
  }
  return runCompiled(
    compiledDecoders,
    decoder,
    () => Schema.decodeUnknownEither(decoder, decodeOptions),
    () => Schema.decodeUnknown(decoder, decodeOptions)(payload),
    payload
  )
}

const decodeOptions = { errors: "all", onExcessProperty: "ignore" } as const
const encodeOptions = { errors: "all" } as const

type Compiled = (u: unknown) => Either.Either<unknown, ParseResult.ParseError>

// Codecs compiled once per schema (not once per message) and run synchronously. A schema that cannot run
// synchronously (an asynchronous transformation) falls back to the effectful codec.
const compiledDecoders = new WeakMap<Schema.Schema.All, Compiled>()
const compiledEncoders = new WeakMap<Schema.Schema.All, Compiled>()

// Only on failure: a `Forbidden` issue anywhere in the tree means a part of the schema needs to run as an Effect.
const needsEffect = (error: ParseResult.ParseError): boolean =>
  ParseResult.ArrayFormatter.formatIssueSync(error.issue).some((issue) => issue._tag === "Forbidden")

const runCompiled = <A>(
  cache: WeakMap<Schema.Schema.All, Compiled>,
  schema: Schema.Schema.All,
  compile: () => Compiled,
  effectful: () => Effect.Effect<A, ParseResult.ParseError>,
  input: unknown
): Effect.Effect<A, ParseResult.ParseError> => {
  let codec = cache.get(schema)
  if (codec === undefined) {
    codec = compile()
    cache.set(schema, codec)
  }
  const result = codec(input) as Either.Either<A, ParseResult.ParseError>
  return Either.isLeft(result) && needsEffect(result.left) ? effectful() : result
}

/**
 * A payload version the definition does not know (newer than this consumer, or never defined).
 *
 * @since 0.1.0
 * @category errors
 */
export class VersionUnsupported extends Schema.TaggedError<VersionUnsupported>()("VersionUnsupported", {
  version: Schema.Number,
  accepted: Schema.Array(Schema.Number)
}) {}

/** @internal */
export const encodePayload = <A, I>(
  self: EventDefinition<A, I>,
  payload: A
): Effect.Effect<I, ParseResult.ParseError> =>
  runCompiled(
    compiledEncoders,
    self.schema,
    () => Schema.encodeUnknownEither(self.schema, encodeOptions),
    () => Schema.encode(self.schema, encodeOptions)(payload),
    payload
  )
