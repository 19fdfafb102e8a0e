/**
 * The codecs of a repository: the model (the `Result` of the `SqlSchema` queries) and the failure its decoding
 * fails with; synchronous (`Either`) codecs for the rest: rows decoded by the model's schema, values encoded by its
 * `insert` and `update` variants, and single columns (filters, ids) by the column's field. An encoded value holding a
 * NUL or a lone surrogate (in a text, or in the strings and keys of its JSON), or an invalid `Date`, is refused,
 * naming its column; a value the model refuses names the field it refuses; a row holding a `"__proto__"` key in its
 * JSON is refused before the model decodes it (jsonColumns.ts), by `decodeRow`, `decodeRows` and `execute`.
 *
 * @internal
 */
import type * as Model from "@effect/sql/Model"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import type * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { ValidationError } from "../../../Errors/CommonErrors.js"
import type { DatabaseError } from "../../../Errors/InfrastructureErrors.js"
import { unstorableValue } from "../unicodeText.js"
import { invalid, protoKeyRow, rowMismatch } from "./errors.js"
import { protoKeySearch } from "./jsonColumns.js"

/** @internal */
export type Row = Record<string, unknown>

/** @internal */
export interface Codec<A> {
  readonly model: Schema.Schema<A, Row>
  /** A row that does not decode, or an `INSERT ... RETURNING` that returns none: a DatabaseError (`decode`). */
  readonly mismatch: (cause: ParseResult.ParseError | Cause.NoSuchElementException) => DatabaseError
  /**
   * The `execute` of the `SqlSchema` queries, whose request is the statement built from values the codecs encoded:
   * its rows, or the DatabaseError (`decode`) of the first that holds a `"__proto__"` key in its JSON.
   */
  readonly execute: (request: unknown) => Effect.Effect<ReadonlyArray<Row>, SqlError | DatabaseError>
  readonly decodeRow: (row: unknown) => Either.Either<A, DatabaseError>
  readonly decodeRows: (rows: ReadonlyArray<unknown>) => Either.Either<ReadonlyArray<A>, DatabaseError>
  readonly encodeInsert: (value: unknown) => Either.Either<Row, ValidationError>
  readonly encodeUpdate: (value: unknown) => Either.Either<Row, ValidationError>
  /** Encodes one column's value (a filter, an id) with the column's own field. */
  readonly encodeColumn: (column: string, value: unknown) => Either.Either<unknown, ValidationError>
}

type Encoder = (u: unknown) => Either.Either<unknown, ParseResult.ParseError>

// A plain schema encodes the value itself; a property signature (optional...) only within a struct.
const columnEncoder = (column: string, field: unknown): Encoder => {
  if (Schema.isSchema(field)) return Schema.encodeUnknownEither(field as Schema.Schema<unknown, unknown>)
  const struct = Schema.encodeUnknownEither(
    Schema.Struct({ [column]: field as Schema.Schema.Any }) as unknown as Schema.Schema<unknown, Row>
  )
  return (u) => Either.map(struct({ [column]: u }), (row) => row[column])
}

// The node driver sends a lone surrogate of a string (which a JavaScript string holds, and JSON's "\ud800") as U+FFFD:
// a row would hold another text than the one given, and a filter would match the rows holding U+FFFD there. In a
// JSON value the driver keeps the escape, which PostgreSQL refuses, as it refuses a NUL in text and in JSON: both are
// refused here, naming the column, where PostgreSQL's refusal names none.
const unstorable = (column: string, reason: "nul_character" | "lone_surrogate"): ValidationError =>
  invalid(
    column,
    reason,
    reason === "lone_surrogate"
      ? `Invalid value for ${column}: it holds a lone surrogate (not Unicode text)`
      : `Invalid value for ${column}: it holds a NUL character, which PostgreSQL refuses in text and JSON`
  )

// A value the model's `insert` or `update` variant refuses: a ValidationError naming the first field it refuses
// (`required` when missing), never the value; the table, when the value itself is refused (not an object).
const refusedBy = (table: string, operation: string) => (error: ParseResult.ParseError): ValidationError => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  const field = issue?.path[0]
  return typeof field === "string"
    ? invalid(field, issue?._tag === "Missing" ? "required" : "invalid_value", `Invalid value for ${field}`)
    : invalid(table, "invalid_value", `Invalid ${table} for ${operation}`)
}

// An invalid `Date` (`new Date("x")`, which `Schema.DateFromSelf` holds): the driver would send `0NaN-NaN-NaN...`.
const invalidDate = (value: unknown): boolean => value instanceof Date && Number.isNaN(value.getTime())

// What PostgreSQL cannot hold of a column's encoded value, as a ValidationError naming the column.
const unstorableIn = (column: string, value: unknown): ValidationError | undefined => {
  if (invalidDate(value)) return invalid(column, "invalid_value", `Invalid value for ${column}: an invalid Date`)
  const refused = unstorableValue(value)
  return refused === undefined ? undefined : unstorable(column, refused)
}

const checkRow = (row: Row): Either.Either<Row, ValidationError> => {
  for (const column in row) {
    const refused = unstorableIn(column, row[column])
    if (refused !== undefined) return Either.left(refused)
  }
  return Either.right(row)
}

/** @internal */
export const makeCodec = <S extends Model.AnyNoContext>(model: S, table: string): Codec<S["Type"]> => {
  const decodeModel = Schema.decodeUnknownEither(model as Schema.Schema<S["Type"], unknown>)
  const mismatch = rowMismatch(table)
  const encodeInsert = Schema.encodeEither(model.insert as Schema.Schema<unknown, Row>)
  const encodeUpdate = Schema.encodeEither(model.update as Schema.Schema<unknown, Row>)
  const encoders = new Map<string, Encoder>()
  const search = protoKeySearch(model)
  const refused = (rows: ReadonlyArray<unknown>): DatabaseError | undefined => {
    for (const row of rows) {
      const path = typeof row === "object" && row !== null ? search(row as Row) : undefined
      if (path !== undefined) return protoKeyRow(table, path)
    }
    return undefined
  }
  return {
    model: model as Schema.Schema<S["Type"], Row>,
    mismatch,
    execute: (request) =>
      Effect.flatMap(request as Statement.Statement<Row>, (rows) => {
        const error = refused(rows)
        return error === undefined ? Effect.succeed(rows) : Effect.fail(error)
      }),
    decodeRow: (row) => {
      const error = refused([row])
      return error === undefined ? Either.mapLeft(decodeModel(row), mismatch) : Either.left(error)
    },
    decodeRows: (rows) => {
      const error = refused(rows)
      return error === undefined
        ? Either.mapLeft(Either.all(rows.map((row) => decodeModel(row))), mismatch)
        : Either.left(error)
    },
    encodeInsert: (value) =>
      Either.flatMap(
        Either.mapLeft(encodeInsert(value), refusedBy(table, "insert")),
        checkRow
      ),
    encodeUpdate: (value) =>
      Either.flatMap(
        Either.mapLeft(encodeUpdate(value), refusedBy(table, "update")),
        checkRow
      ),
    encodeColumn: (column, value) => {
      let encoder = encoders.get(column)
      if (encoder === undefined) {
        encoder = columnEncoder(column, model.fields[column])
        encoders.set(column, encoder)
      }
      const encoded = Either.mapLeft(
        encoder(value),
        () => invalid(column, "invalid_value", `Invalid value for ${column}`)
      )
      const refused = Either.isRight(encoded) ? unstorableIn(column, encoded.right) : undefined
      return refused === undefined ? encoded : Either.left(refused)
    }
  }
}
