/**
 * The JSON a row holds, searched for `"__proto__"` keys before the model decodes the row (see
 * src/internal/protoKeys.ts): rows are written by other services too, and a model's `Schema.Record` would make such
 * a key's value the prototype of the object it builds, or drop the key.
 *
 * Two kinds of column hold JSON: a `json`/`jsonb` column, which the driver parses (`JSON.parse`) into a plain
 * object or array, and a text column whose field parses its JSON itself (`Schema.parseJson`, `Model.JsonFromString`).
 * The other values of a row (strings, numbers, `Date`s, `Buffer`s) are not walked: a row without JSON costs a type
 * test per column of the model.
 *
 * @internal
 */
import type * as Model from "@effect/sql/Model"
import * as Option from "effect/Option"
import * as SchemaAST from "effect/SchemaAST"
import * as ProtoKeys from "../../../internal/protoKeys.js"

interface Column {
  readonly name: string
  /** The field parses a string of the column as JSON. */
  readonly parsesJson: boolean
}

// Whether a string reaching this schema may be parsed as JSON by it: a `Schema.parseJson` transformation on the way
// (within transformations, refinements and unions; not within the members of a struct or tuple, which are not the
// column's string).
const parsesJson = (ast: SchemaAST.AST): boolean => {
  const seen = new Set<SchemaAST.AST>()
  const stack = [ast]
  for (let at = stack.pop(); at !== undefined; at = stack.pop()) {
    if (seen.has(at)) continue
    seen.add(at)
    if (Option.getOrUndefined(SchemaAST.getSchemaIdAnnotation(at)) === SchemaAST.ParseJsonSchemaId) return true
    if (at._tag === "Transformation") stack.push(at.from, at.to)
    else if (at._tag === "Refinement") stack.push(at.from)
    else if (at._tag === "Union") stack.push(...at.types)
    else if (at._tag === "Suspend") stack.push(at.f())
  }
  return false
}

// The columns the model reads (the encoded names of its struct's fields), each with whether its field parses JSON.
const columnsOf = (model: Model.AnyNoContext): ReadonlyArray<Column> => {
  let ast = model.ast
  while (ast._tag === "Transformation" || ast._tag === "Refinement") ast = ast.from
  if (ast._tag !== "TypeLiteral") return Object.keys(model.fields).map((name) => ({ name, parsesJson: false }))
  return ast.propertySignatures.flatMap((signature) =>
    typeof signature.name === "string" ? [{ name: signature.name, parsesJson: parsesJson(signature.type) }] : []
  )
}

// What the driver makes of JSON: objects with the standard prototype (or none) and arrays. Other objects of a row
// (a `Date`, a `Buffer` whose keys are its bytes) are not JSON.
const isJsonObject = (value: object): boolean => {
  if (Array.isArray(value)) return true
  const prototype: unknown = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}

const parsed = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    // Not JSON: the model's decoding says so.
    return undefined
  }
}

/**
 * The search of a model's rows: the path of the first `"__proto__"` key in the JSON of a row (the column, then the
 * keys and array indexes within its value), or `undefined` when it holds none.
 *
 * @internal
 */
export const protoKeySearch = (
  model: Model.AnyNoContext
): (row: { readonly [column: string]: unknown }) => ReadonlyArray<string> | undefined => {
  const columns = columnsOf(model)
  return (row) => {
    for (const column of columns) {
      const value = row[column.name]
      let path: ReadonlyArray<string> | undefined
      if (typeof value === "object" && value !== null) {
        if (isJsonObject(value)) path = ProtoKeys.protoKeyPath(value)
      } else if (typeof value === "string" && column.parsesJson && ProtoKeys.mayHoldProtoKey(value)) {
        path = ProtoKeys.protoKeyPath(parsed(value))
      }
      if (path !== undefined) return [column.name, ...path]
    }
    return undefined
  }
}
