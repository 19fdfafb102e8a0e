/**
 * A `ParseIssue` tree as the flat list of problems pydantic reports: one entry per failing value, with its path,
 * pydantic's error `type` and message where pydantic has one for the same failure (`missing`, `int_parsing`,
 * `string_too_short`, `less_than_equal`, `uuid_parsing`, `literal_error`, ...), else the schema's own message and
 * the generic `value_error`.
 *
 * Messages never quote the input: a value can be large (or deeply nested), and what a client sent is no part of
 * what it needs to be told.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"

/** @internal */
export interface Issue {
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
  readonly type: string
}

/** The generic type, for failures pydantic has no name for. */
const generic = "value_error"

const pydanticMessages: ReadonlyArray<readonly [RegExp, string]> = [
  [/^Input should be less than or equal to /, "less_than_equal"],
  [/^Input should be greater than or equal to /, "greater_than_equal"],
  [/^Input should be less than /, "less_than"],
  [/^Input should be greater than /, "greater_than"],
  [/^Input should be a valid integer, unable to parse/, "int_parsing"],
  [/^Input should be a valid integer, got a number with a fractional part/, "int_from_float"],
  [/^Input should be a valid integer/, "int_type"],
  [/^Input should be a valid number, unable to parse/, "float_parsing"],
  [/^Input should be a valid number/, "float_type"],
  [/^Input should be a valid string/, "string_type"],
  [/^Input should be a valid boolean, unable to interpret/, "bool_parsing"],
  [/^Input should be a valid boolean/, "bool_type"],
  [/^Input should be a valid UUID/, "uuid_parsing"],
  [/^String should have at least /, "string_too_short"],
  [/^String should have at most /, "string_too_long"],
  [/^String should match pattern /, "string_pattern_mismatch"],
  [/^Field required$/, "missing"],
  [/^Extra inputs are not permitted$/, "extra_forbidden"]
]

/**
 * The pydantic type of a message pydantic writes (`less_than_equal` for "Input should be less than or equal to
 * 1000"), `undefined` for any other message.
 *
 * @internal
 */
export const typeOfMessage = (message: string): string | undefined => {
  for (const [pattern, type] of pydanticMessages) if (pattern.test(message)) return type
  return undefined
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`

/** pydantic's rendering of the allowed values: `'a'`, `'a' or 'b'`, `'a', 'b' or 'c'`. */
const alternatives = (values: ReadonlyArray<unknown>): string => {
  const shown = values.map((v) => typeof v === "string" ? `'${v}'` : String(v))
  return shown.length <= 1
    ? shown.join("")
    : `${shown.slice(0, -1).join(", ")} or ${shown[shown.length - 1]}`
}

const isNullish = (ast: AST.AST): boolean =>
  ast._tag === "UndefinedKeyword" || ast._tag === "VoidKeyword" || (ast._tag === "Literal" && ast.literal === null)

/** The members of a union, nested unions flattened. */
const members = (ast: AST.Union): Array<AST.AST> =>
  ast.types.flatMap((member) => member._tag === "Union" ? members(member) : [member])

/** The values of a union made only of literals (and enums), ignoring `null`/`undefined`; else `undefined`. */
const literalValues = (ast: AST.AST): Array<unknown> | undefined => {
  const all = ast._tag === "Union" ? members(ast).filter((m) => !isNullish(m)) : [ast]
  const values: Array<unknown> = []
  for (const member of all) {
    if (member._tag === "Literal") values.push(member.literal)
    else if (member._tag === "Enums") values.push(...member.enums.map(([, value]) => value))
    else return undefined
  }
  return values.length > 0 ? values : undefined
}

/** The schema a refinement or transformation ends in, refinements removed. */
const target = (ast: AST.AST): AST.AST => {
  switch (ast._tag) {
    case "Refinement":
      return target(ast.from)
    case "Transformation":
      return target(ast.to)
    case "Suspend":
      return target(ast.f())
    default:
      return ast
  }
}

const schemaId = (ast: AST.AST): symbol | undefined =>
  Option.getOrUndefined(AST.getSchemaIdAnnotation(ast)) as symbol | undefined

const isDate = (ast: AST.AST): boolean =>
  ast._tag === "Declaration" && (schemaId(ast) === Schema.DateFromSelfSchemaId ||
    Option.getOrUndefined(AST.getIdentifierAnnotation(ast)) === "DateTimeUtcFromSelf")

const described = (ast: AST.AST): string | undefined =>
  Option.getOrUndefined(Option.orElse(AST.getDescriptionAnnotation(ast), () => AST.getTitleAnnotation(ast)))

const fallbackMessage = (ast: AST.AST): string => {
  const description = described(ast)
  return description === undefined ? "Invalid value" : `Input should be ${description}`
}

/** The message of a message annotation, when it applies to this node (as `ParseResult`'s formatters decide). */
const annotationMessage = (issue: ParseResult.ParseIssue): string | undefined => {
  if (!("ast" in issue)) return undefined
  const annotation = AST.getMessageAnnotation(issue.ast)
  if (Option.isNone(annotation)) return undefined
  try {
    const result = annotation.value(issue)
    const { message, override } = Predicate.isString(result) || Effect.isEffect(result)
      ? { message: result, override: false }
      : result
    // Over containers, a message that does not override yields to the messages inside (as the formatters do).
    const defers = issue._tag === "Composite" || (issue._tag === "Refinement" && issue.kind === "From") ||
      (issue._tag === "Transformation" && issue.kind !== "Transformation")
    if (defers && !override) return undefined
    return Predicate.isString(message) ? message : Effect.runSync(message)
  } catch {
    return undefined
  }
}

/** A message a schema wrote itself (a filter's returned text, a transformation's failure), not Effect's default. */
const ownMessage = (issue: ParseResult.Type): string | undefined =>
  issue.message !== undefined && !issue.message.startsWith("Unable to decode ") ? issue.message : undefined

type Bounds = (key: string) => number | undefined
type Found = Omit<Issue, "path"> | undefined

const stringLengthIssue = (num: Bounds, length: number | undefined): Found => {
  const min = num("minLength")
  const max = num("maxLength")
  if (min !== undefined && (length === undefined || length < min)) {
    return { type: "string_too_short", message: `String should have at least ${plural(min, "character")}` }
  }
  if (max !== undefined) {
    return { type: "string_too_long", message: `String should have at most ${plural(max, "character")}` }
  }
  return undefined
}

const itemsCountIssue = (num: Bounds, length: number | undefined): Found => {
  const min = num("minItems")
  const max = num("maxItems")
  const got = length ?? 0
  if (min !== undefined && got < min) {
    return {
      type: "too_short",
      message: `List should have at least ${plural(min, "item")} after validation, not ${got}`
    }
  }
  if (max !== undefined) {
    return { type: "too_long", message: `List should have at most ${plural(max, "item")} after validation, not ${got}` }
  }
  return undefined
}

const rangeIssue = (num: Bounds, actual: unknown): Found => {
  const n = typeof actual === "number" ? actual : undefined
  const min = num("minimum")
  const max = num("maximum")
  const exclusiveMin = num("exclusiveMinimum")
  const exclusiveMax = num("exclusiveMaximum")
  if (exclusiveMin !== undefined && (n === undefined || n <= exclusiveMin)) {
    return { type: "greater_than", message: `Input should be greater than ${exclusiveMin}` }
  }
  if (min !== undefined && (n === undefined || n < min)) {
    return { type: "greater_than_equal", message: `Input should be greater than or equal to ${min}` }
  }
  if (exclusiveMax !== undefined && (n === undefined || n >= exclusiveMax)) {
    return { type: "less_than", message: `Input should be less than ${exclusiveMax}` }
  }
  if (max !== undefined) return { type: "less_than_equal", message: `Input should be less than or equal to ${max}` }
  return undefined
}

/** The issues of filters with nothing to compute: the same type and message whatever the input. */
const fixedIssues = new Map<symbol, (json: Record<string, unknown>) => Omit<Issue, "path">>([
  [Schema.IntSchemaId, () => ({
    type: "int_from_float",
    message: "Input should be a valid integer, got a number with a fractional part"
  })],
  [Schema.FiniteSchemaId, () => ({ type: "finite_number", message: "Input should be a finite number" })],
  [Schema.NonNaNSchemaId, () => ({ type: "finite_number", message: "Input should be a finite number" })],
  [Schema.MultipleOfSchemaId, (json) => ({
    type: "multiple_of",
    message: `Input should be a multiple of ${String(json["multipleOf"])}`
  })],
  [Schema.PatternSchemaId, (json) => ({
    type: "string_pattern_mismatch",
    message: `String should match pattern '${String(json["pattern"])}'`
  })],
  [Schema.UUIDSchemaId, () => ({ type: "uuid_parsing", message: "Input should be a valid UUID" })],
  [Schema.ValidDateSchemaId, () => ({ type: "datetime_parsing", message: "Input should be a valid datetime" })]
])

const stringLengthIds = new Set<unknown>([Schema.MinLengthSchemaId, Schema.MaxLengthSchemaId, Schema.LengthSchemaId])
const itemsCountIds = new Set<unknown>([Schema.MinItemsSchemaId, Schema.MaxItemsSchemaId, Schema.ItemsCountSchemaId])
const rangeIds = new Set<unknown>([
  Schema.GreaterThanSchemaId,
  Schema.GreaterThanOrEqualToSchemaId,
  Schema.LessThanSchemaId,
  Schema.LessThanOrEqualToSchemaId,
  Schema.BetweenSchemaId
])

const refinementIssue = (ast: AST.Refinement, actual: unknown): Found => {
  const id = schemaId(ast)
  const json = Option.getOrElse(AST.getJSONSchemaAnnotation(ast), () => ({})) as Record<string, unknown>
  const num: Bounds = (key) => typeof json[key] === "number" ? json[key] as number : undefined
  const length = typeof actual === "string" || Array.isArray(actual) ? actual.length : undefined
  if (stringLengthIds.has(id)) return stringLengthIssue(num, length)
  if (itemsCountIds.has(id)) return itemsCountIssue(num, length)
  if (rangeIds.has(id)) return rangeIssue(num, actual)
  const fixed = typeof id === "symbol" ? fixedIssues.get(id) : undefined
  return fixed === undefined ? undefined : fixed(json)
}

/** The failure of a transformation from text (`NumberFromString`, `BigInt`, `Date`, ...), by what it decodes to. */
const parsingIssue = (ast: AST.Transformation): Omit<Issue, "path"> | undefined => {
  const to = target(ast.to)
  if (to._tag === "NumberKeyword") {
    return { type: "float_parsing", message: "Input should be a valid number, unable to parse string as a number" }
  }
  if (to._tag === "BigIntKeyword") {
    return { type: "int_parsing", message: "Input should be a valid integer, unable to parse string as an integer" }
  }
  if (to._tag === "BooleanKeyword") {
    return { type: "bool_parsing", message: "Input should be a valid boolean, unable to interpret input" }
  }
  if (isDate(to)) return { type: "datetime_parsing", message: "Input should be a valid datetime" }
  return undefined
}

/** A value of the wrong type (or failing a check) where the schema is `ast`. */
const typeIssue = (ast: AST.AST, actual: unknown, own: string | undefined): Omit<Issue, "path"> => {
  const known = ((): Omit<Issue, "path"> | undefined => {
    switch (ast._tag) {
      case "Refinement": {
        const refined = refinementIssue(ast, actual)
        if (refined !== undefined) return refined
        break
      }
      case "Transformation":
        return parsingIssue(ast)
      case "Suspend":
        return typeIssue(ast.f(), actual, own)
      case "StringKeyword":
        return { type: "string_type", message: "Input should be a valid string" }
      case "NumberKeyword":
        return typeof actual === "string"
          ? { type: "float_parsing", message: "Input should be a valid number, unable to parse string as a number" }
          : { type: "float_type", message: "Input should be a valid number" }
      case "BooleanKeyword":
        return typeof actual === "string"
          ? { type: "bool_parsing", message: "Input should be a valid boolean, unable to interpret input" }
          : { type: "bool_type", message: "Input should be a valid boolean" }
      case "BigIntKeyword":
        return { type: "int_type", message: "Input should be a valid integer" }
      case "Literal":
      case "Enums":
      case "Union": {
        const values = literalValues(ast)
        if (values !== undefined) {
          const enums = ast._tag === "Union"
            ? members(ast).every((m) => m._tag === "Enums" || isNullish(m))
            : ast._tag === "Enums"
          return { type: enums ? "enum" : "literal_error", message: `Input should be ${alternatives(values)}` }
        }
        if (ast._tag === "Union") {
          const present = members(ast).filter((m) => !isNullish(m))
          if (present.length === 1) return typeIssue(present[0]!, actual, own)
        }
        break
      }
      case "TypeLiteral":
        return { type: "dict_type", message: "Input should be a valid dictionary" }
      case "TupleType":
        return ast.elements.length === 0
          ? { type: "list_type", message: "Input should be a valid list" }
          : { type: "tuple_type", message: "Input should be a valid tuple" }
      case "Declaration":
        if (isDate(ast)) return { type: "datetime_type", message: "Input should be a valid datetime" }
        break
    }
    return undefined
  })()
  if (own !== undefined) return { type: typeOfMessage(own) ?? known?.type ?? generic, message: own }
  return known ?? { type: generic, message: fallbackMessage(ast) }
}

const pushLeaf = (out: Array<Issue>, path: ReadonlyArray<PropertyKey>, issue: Omit<Issue, "path">) => {
  out.push({ path, type: issue.type, message: issue.message })
}

const go = (issue: ParseResult.ParseIssue, path: ReadonlyArray<PropertyKey>, out: Array<Issue>): void => {
  const annotated = annotationMessage(issue)
  if (annotated !== undefined) {
    const inner: Array<Issue> = []
    walk(issue, path, inner)
    out.push({ path, message: annotated, type: typeOfMessage(annotated) ?? inner[0]?.type ?? generic })
    return
  }
  walk(issue, path, out)
}

const walk = (issue: ParseResult.ParseIssue, path: ReadonlyArray<PropertyKey>, out: Array<Issue>): void => {
  switch (issue._tag) {
    case "Pointer":
      return go(issue.issue, Array.isArray(issue.path) ? [...path, ...issue.path] : [...path, issue.path], out)
    case "Missing":
      return pushLeaf(out, path, { type: "missing", message: "Field required" })
    case "Unexpected":
      return pushLeaf(out, path, { type: "extra_forbidden", message: "Extra inputs are not permitted" })
    case "Forbidden":
      return pushLeaf(out, path, { type: generic, message: "Input could not be validated" })
    case "Type":
      return pushLeaf(out, path, typeIssue(issue.ast, issue.actual, ownMessage(issue)))
    case "Refinement": {
      // `Int` over a number that is not one: pydantic's integer messages rather than the number's.
      if (issue.kind === "From" && schemaId(issue.ast) === Schema.IntSchemaId && !Predicate.isNumber(issue.actual)) {
        return pushLeaf(
          out,
          path,
          typeof issue.actual === "string"
            ? { type: "int_parsing", message: "Input should be a valid integer, unable to parse string as an integer" }
            : { type: "int_type", message: "Input should be a valid integer" }
        )
      }
      return go(issue.issue, path, out)
    }
    case "Transformation": {
      // Text that is not one of the accepted spellings of a boolean (`BooleanFromString`).
      if (
        issue.kind === "Encoded" && target(issue.ast.to)._tag === "BooleanKeyword" && Predicate.isString(issue.actual)
      ) {
        return pushLeaf(out, path, {
          type: "bool_parsing",
          message: "Input should be a valid boolean, unable to interpret input"
        })
      }
      return go(issue.issue, path, out)
    }
    case "Composite": {
      const issues = Array.isArray(issue.issues) ? issue.issues : [issue.issues as ParseResult.ParseIssue]
      if (issue.ast._tag === "Union") {
        // One problem for a value outside a set of literals; the members' problems otherwise, `null` left out.
        if (literalValues(issue.ast) !== undefined) {
          return pushLeaf(out, path, typeIssue(issue.ast, issue.actual, undefined))
        }
        const relevant = issues.filter((i) => !("ast" in i && isNullish(i.ast)))
        for (const member of relevant.length > 0 ? relevant : issues) go(member, path, out)
        return
      }
      for (const child of issues) go(child, path, out)
      return
    }
  }
}

/**
 * Every problem of a `ParseIssue`, in the order the schema checks them (decode with `errors: "all"` to have them
 * all).
 *
 * @internal
 */
export const collect = (issue: ParseResult.ParseIssue): Array<Issue> => {
  const out: Array<Issue> = []
  go(issue, [], out)
  return out
}
