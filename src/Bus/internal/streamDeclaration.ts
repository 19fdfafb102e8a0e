/**
 * The streams a service may use and those it ensures at startup, from what it declares; and the declared stream
 * a definition or a subject stands for.
 *
 * @internal
 */
import * as Either from "effect/Either"
import { MessageBusError } from "../../Errors/Errors.js"
import * as Streams from "../../Events/Streams.js"
import type { Declaration, DeclareOptions } from "../JetStreamSetup.js"
import * as DeadLetter from "./deadLetterRecord.js"

const subjectsOf = (stream: Streams.StreamDefinition) => [...stream.subjects].sort()

const sameSubjects = (a: Streams.StreamDefinition, b: Streams.StreamDefinition) => {
  const x = subjectsOf(a)
  const y = subjectsOf(b)
  return x.length === y.length && x.every((subject, i) => subject === y[i])
}

/** How to declare a stream, as startup and publish errors say it. @internal */
export const howToDeclare = (name = "NAME"): string =>
  `declare it with its StreamDefinition in makeGlamLive({ streams: [...] }) (JetStream.layer: streamDefinitions, ` +
  `BusMemory.layerMemory: streams), or by name in the configuration: nats.streams: [${name}]`

/** The declared stream a definition's stream stands for, or why there is none. @internal */
export const resolve = (
  self: Declaration,
  stream: Streams.StreamDefinition
): Either.Either<Streams.StreamDefinition, string> => {
  const declared = self.streams.find((s) => s.name === stream.name)
  if (declared === undefined) return Either.left(`stream ${stream.name} is not declared; ${howToDeclare(stream.name)}`)
  return sameSubjects(declared, stream) ? Either.right(declared) : Either.left(
    `its stream ${stream.name} holds ${stream.subjects.join(", ")}, but the declared ${stream.name} holds ` +
      `${declared.subjects.join(", ")}; define the event on the declared stream`
  )
}

/** The declared stream that holds a subject, if one does: a look-up that builds nothing on a miss. @internal */
export const findStreamHolding = (self: Declaration, subject: string): Streams.StreamDefinition | undefined =>
  self.streams.find((stream) => Streams.holds(stream, subject))

/** The declared stream that holds a subject, or why there is none. @internal */
export const streamHolding = (self: Declaration, subject: string): Either.Either<Streams.StreamDefinition, string> => {
  const found = findStreamHolding(self, subject)
  return found !== undefined
    ? Either.right(found)
    : Either.left(`no declared stream holds ${subject}; ${howToDeclare()}`)
}

/** The service's own streams by name, and the problems of two that share a name. */
const ownStreams = (
  own: ReadonlyArray<Streams.StreamDefinition>,
  problems: Array<string>
): Map<string, Streams.StreamDefinition> => {
  const byName = new Map<string, Streams.StreamDefinition>()
  for (const stream of own) {
    const other = byName.get(stream.name)
    if (other !== undefined && !sameSubjects(other, stream)) {
      problems.push(
        `two streams named ${stream.name} are declared: one holds ${other.subjects.join(", ")}, the other ` +
          `${stream.subjects.join(", ")}`
      )
    }
    byName.set(stream.name, stream)
  }
  return byName
}

/** The streams a service may use, and those ensured at startup (see `JetStreamSetup.declare`). @internal */
export const declare = (options: DeclareOptions): Either.Either<Declaration, MessageBusError> => {
  const problems: Array<string> = []
  const own = ownStreams(options.own ?? [], problems)
  const declaredInCode = Streams.registry([...options.platform, ...own.values()])
  const named = (options.names ?? []).map((name) =>
    declaredInCode.streams.find((stream) => stream.name === name) ?? Streams.make(name)
  )
  const registry = Streams.registry([...declaredInCode.streams, ...named])
  const partial: Declaration = { streams: [...registry.streams, DeadLetter.stream], atStartup: [] }
  const atStartup = new Map<string, Streams.StreamDefinition>([[DeadLetter.stream.name, DeadLetter.stream]])
  for (const stream of [...own.values(), ...named]) atStartup.set(stream.name, stream)
  for (const definition of options.events ?? []) {
    Either.match(resolve(partial, definition.stream), {
      onLeft: (problem) => problems.push(`${definition.subject} (in events): ${problem}`),
      onRight: (stream) => atStartup.set(stream.name, stream)
    })
  }
  if (problems.length > 0) {
    return Either.left(
      new MessageBusError({
        message: problems.length === 1
          ? problems[0]!
          : `Streams not declared as the service needs them:\n${problems.map((p) => `  ${p}`).join("\n")}`,
        details: { operation: "declare" },
        retryable: false
      })
    )
  }
  return Either.right({ streams: partial.streams, atStartup: [...atStartup.values()] })
}
