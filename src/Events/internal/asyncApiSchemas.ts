/**
 * The names and JSON Schemas of an AsyncAPI document: ids as AsyncAPI allows them, and each payload schema's named
 * definitions kept apart from another schema's of the same name.
 *
 * @internal
 */
import * as JSONSchema from "effect/JSONSchema"
import type * as Schema from "effect/Schema"
import type { Json } from "../AsyncApi.js"

const definitionPath = "#/components/schemas/"

/** A channel, message or schema id: AsyncAPI's `^[\w\d.\-_]+$`, other characters as `_`. @internal */
export const idOf = (subject: string): string => subject.replace(/[^\w.-]/g, "_")

/** A message's name: the subject's tokens, capitalised and joined (`evt.sync_started`: `EvtSyncStarted`). @internal */
export const messageName = (subject: string): string =>
  idOf(subject.split(/[._-]/).filter((t) => t !== "").map((t) => t[0]!.toUpperCase() + t.slice(1)).join(""))

// `effect` writes `Schema.Unknown` as `{ "$id": "/schemas/unknown" }`; a relative `$id` would re-base references
// for some tools, so the document says `{}` (every JSON value) instead.
const toJson = (u: unknown): Json =>
  JSON.parse(
    JSON.stringify(u, (_, value: unknown) =>
      typeof value === "object" && value !== null && "$id" in value && typeof value.$id === "string" &&
        (value.$id === "/schemas/unknown" || value.$id === "/schemas/any")
        ? {}
        : value)
  ) as Json

/** A name not yet taken: `base`, else `base_2`, `base_3`, ... @internal */
export const unique = (base: string, taken: Set<string>): string => {
  let name = base
  for (let n = 2; taken.has(name); n++) name = `${base}_${n}`
  taken.add(name)
  return name
}

// The value with each `$ref` to a renamed definition (a JSON pointer: `~1` is `/`) pointing at its new name.
const renamed = (value: Json, names: ReadonlyMap<string, string>): Json => {
  if (names.size === 0 || value === null || typeof value !== "object") return value
  if (Array.isArray(value)) return value.map((v) => renamed(v, names))
  const out: { [key: string]: Json } = {}
  for (const [key, v] of Object.entries(value as { readonly [key: string]: Json })) {
    const target = key === "$ref" && typeof v === "string" && v.startsWith(definitionPath)
      ? names.get(v.slice(definitionPath.length).replaceAll("~1", "/").replaceAll("~0", "~"))
      : undefined
    out[key] = target === undefined ? renamed(v, names) : definitionPath + target
  }
  return out
}

/**
 * The JSON Schema of `ast`, its named definitions added to `definitions`. Two schemas of the document may carry the
 * same `identifier` and differ (two teams' `Item`): each definition keeps its own, the later one under a new name
 * (`Item_2`) and the references of its schema with it. A definition equal to one already there is shared.
 *
 * @internal
 */
export const schemaOf = (ast: Schema.Schema.AnyNoContext["ast"], definitions: Record<string, Json>): Json => {
  const local: Record<string, JSONSchema.JsonSchema7> = {}
  const schema = toJson(
    JSONSchema.fromAST(ast, {
      definitions: local,
      definitionPath,
      target: "jsonSchema7",
      // Payload decoders ignore keys they do not know (as pydantic did): the document must not forbid them.
      additionalPropertiesStrategy: "allow"
    })
  )
  const own = toJson(local) as { readonly [name: string]: Json }
  // Each of this schema's definitions and its name in the document, when that is not its own.
  const names = new Map<string, string>()
  let share = true
  const text = (name: string): string => JSON.stringify(renamed(own[name]!, names))
  // A name for `name` (from `idOf(name)`) taken neither by another of this schema's definitions nor, in the
  // document, by a different definition.
  const rename = (name: string): void => {
    const usable = (candidate: string): boolean =>
      (candidate === name || !hasOwn(own, candidate)) &&
      ![...names].some(([other, used]) => other !== name && used === candidate) &&
      (!hasOwn(definitions, candidate) || (share && JSON.stringify(definitions[candidate]) === text(name)))
    let candidate = idOf(name)
    for (let n = 2; !usable(candidate); n++) candidate = `${idOf(name)}_${n}`
    if (candidate === name) names.delete(name)
    else names.set(name, candidate)
  }
  for (const name of Object.keys(own)) if (idOf(name) !== name) rename(name)
  // Renaming one definition changes those that refer to it: repeat until no name clashes. Past a bound (mutually
  // recursive definitions could otherwise trade names forever) a clash takes a name no definition has.
  for (let clashed = true, pass = 0; clashed; pass++) {
    clashed = false
    share = pass <= Object.keys(own).length
    for (const name of Object.keys(own)) {
      const current = names.get(name) ?? name
      if (hasOwn(definitions, current) && JSON.stringify(definitions[current]) !== text(name)) {
        rename(name)
        clashed = true
      }
    }
  }
  for (const name of Object.keys(own)) definitions[names.get(name) ?? name] = renamed(own[name]!, names)
  return renamed(schema, names)
}

const hasOwn = (o: object, key: string): boolean => Object.prototype.hasOwnProperty.call(o, key)
