/**
 * Query parameters, urlencoded fields and multipart parts named `"__proto__"`. The platform collects them into
 * objects holding a string per name, or an array of them when the name comes more than once (a file part always),
 * and a `Schema.Record` builds the object it decodes by assignment: a string under that name is dropped, an array
 * becomes the prototype of the decoded object (`?__proto__=a&__proto__=b` gives a record inheriting `length`).
 * Such a name is refused before a schema sees it.
 *
 * @internal
 */
import { type ValidationError } from "../../Errors/CommonErrors.js"
import { protoKey } from "../../internal/protoKeys.js"
import { validationError } from "./validation.js"

// A query that spells the name: written out, or with one of its characters percent-encoded (`_`, `p`, `r`, `o`,
// `t`). A query for which this is false holds no parameter of that name, and decoding it costs nothing more.
const mayName = /__proto__|%(?:5f|6f|7[024])/i

/**
 * Whether the query of a request URL (the part after `?`) has a parameter named `"__proto__"`, as the router's
 * parser and `URLSearchParams` decode names.
 *
 * @internal
 */
export const inQuery = (url: string): boolean => {
  const start = url.indexOf("?")
  if (start === -1) return false
  const query = url.slice(start + 1)
  return mayName.test(query) && new URLSearchParams(query).has(protoKey)
}

/**
 * The 422 of such a name: `query.__proto__` for a query parameter, `body.__proto__` for a form field.
 *
 * @internal
 */
export const refusal = (location: "query" | "body"): ValidationError =>
  validationError([{
    field: `${location}.${protoKey}`,
    message: `${location === "query" ? "Query parameter" : "Form field"} "${protoKey}" is refused: decoding would ` +
      "drop it or make its values the prototype of its object",
    type: "value_error"
  }])
