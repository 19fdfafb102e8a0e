/**
 * Families of definitions: definitions of one stream taken by one durable consumer, each message dispatched on its
 * subject; the filters that cover them.
 *
 * @internal
 */
import { ValidationError } from "../../Errors/Errors.js"
import type * as EventDefinition from "../../Events/Events.js"
import * as Streams from "../../Events/Streams.js"
import type * as FamilyModule from "../Family.js"
import type { Definitions, Family } from "../Family.js"

/** @internal */
export const TypeId: FamilyModule.TypeId = Symbol.for("@glam/shared/Bus/Family") as FamilyModule.TypeId

const invalid = (field: string, reason: string, value?: string): ValidationError =>
  new ValidationError({
    message: `Invalid family of definitions: ${reason}`,
    details: { field, reason, ...(value !== undefined ? { value } : {}) }
  })

/**
 * The narrowest single filter over subjects: token by token, a differing token becomes `*`; subjects of different
 * lengths end in `>` after the tokens all of them have.
 *
 * @internal
 */
export const coveringFilter = (subjects: ReadonlyArray<string>): string => {
  const split = subjects.map((subject) => subject.split("."))
  const lengths = split.map((tokens) => tokens.length)
  const shortest = Math.min(...lengths)
  const sameLength = lengths.every((n) => n === shortest)
  const tokenAt = (i: number) => {
    const first = split[0]![i]!
    return split.every((tokens) => tokens[i] === first) ? first : "*"
  }
  const kept = Array.from({ length: sameLength ? shortest : shortest - 1 }, (_, i) => tokenAt(i))
  return (sameLength ? kept : [...kept, ">"]).join(".")
}

/** Why a subject filter is not one, or `undefined`. */
const filterProblem = (filter: string): string | undefined => {
  const tokens = filter.split(".")
  if (tokens.some((t) => t === "" || /\s/.test(t))) return "it has an empty token or whitespace"
  if (
    tokens.some((t, i) => (t.includes(">") && (t !== ">" || i !== tokens.length - 1)) || (t.includes("*") && t !== "*"))
  ) {
    return "a wildcard must be a whole token, and > the last one"
  }
  return undefined
}

/** The definitions of a family, checked: one stream, one definition per subject. */
const checked = (definitions: Definitions): ReadonlyArray<readonly [string, EventDefinition.EventDefinition.Any]> => {
  const entries = Object.entries(definitions)
  if (entries.length === 0) throw invalid("definitions", "a family needs at least one definition")
  const [, first] = entries[0]!
  const bySubject = new Map<string, string>()
  for (const [name, definition] of entries) {
    const stream = definition.stream
    if (stream.name !== first.stream.name || stream.subjects.join(" ") !== first.stream.subjects.join(" ")) {
      throw invalid(
        name,
        `its definitions must share one stream (one durable consumer reads one stream): ${name} is on ` +
          `${stream.name}, ${entries[0]![0]} on ${first.stream.name}`,
        definition.subject
      )
    }
    const other = bySubject.get(definition.subject)
    if (other !== undefined) {
      throw invalid(name, `${other} and ${name} are both ${definition.subject}: a message would have two handlers`)
    }
    bySubject.set(definition.subject, name)
  }
  return entries
}

const build = <Defs extends Definitions>(
  definitions: Defs,
  entries: ReadonlyArray<readonly [string, EventDefinition.EventDefinition.Any]>,
  subjects: ReadonlyArray<string>,
  filter: string
): Family<Defs> => ({
  [TypeId]: TypeId,
  definitions,
  stream: entries[0]![1].stream,
  subjects,
  filter,
  covers: (subject) => subjects.some((f) => Streams.subjectMatches(f, subject))
})

/** A family of the given definitions (see `Family.make`). @internal */
export const make = <const Defs extends Definitions>(definitions: Defs): Family<Defs> => {
  const entries = checked(definitions)
  const subjects = entries.map(([, definition]) => definition.subject)
  return build(definitions, entries, subjects, subjects.length === 1 ? subjects[0]! : coveringFilter(subjects))
}

/** A family of every subject under a filter, with its definitions (see `Family.prefix`). @internal */
export const prefix = <const Defs extends Definitions>(filter: string, definitions: Defs): Family<Defs> => {
  const problem = filterProblem(filter)
  if (problem !== undefined) throw invalid("prefix", `${JSON.stringify(filter)} is not a subject filter: ${problem}`)
  const entries = checked(definitions)
  for (const [name, definition] of entries) {
    if (!Streams.subjectMatches(filter, definition.subject)) {
      throw invalid(name, `${name} (${definition.subject}) is not under ${filter}`, definition.subject)
    }
  }
  return build(definitions, entries, [filter], filter)
}
