/**
 * Which streams a Bus has made ready: each is ensured once per Bus, by name (those declared for startup when the Bus
 * is made, the others when first used), and a definition or subject whose stream is not declared is refused. Once
 * its stream is ready, the check of a publish is one set lookup.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { MessageBusError } from "../../Errors/Errors.js"
import type * as EventDefinition from "../../Events/Events.js"
import type { StreamDefinition } from "../../Events/Streams.js"
import * as SubjectCache from "../../internal/subjectCache.js"
import type * as JetStreamSetup from "../JetStreamSetup.js"
import { busError } from "./busError.js"
import type { Engine } from "./engine.js"
import * as StreamDeclaration from "./streamDeclaration.js"

/** @internal */
export interface StreamReadiness {
  /** Definitions whose stream is ready. */
  readonly readyStreams: ReadonlySet<StreamDefinition>
  /** Subjects of `publishEncoded` whose stream is ready. */
  readonly readySubjects: ReadonlySet<string>
  /** Makes the stream of a definition ready, or refuses a definition whose stream is not declared. */
  readonly streamReady: (
    definition: EventDefinition.EventDefinition.Any,
    operation: "publish" | "subscribe",
    label: string
  ) => Effect.Effect<void, MessageBusError>
  /** Makes ready the declared stream that holds `subject`, or refuses a subject no declared stream holds. */
  readonly subjectReady: (subject: string) => Effect.Effect<void, MessageBusError>
}

/** The readiness of a Bus's streams, with those declared for startup ensured. @internal */
export const make = (
  engine: Engine,
  options: { readonly declaration: JetStreamSetup.Declaration; readonly ensureStreams: boolean }
): Effect.Effect<StreamReadiness, MessageBusError> =>
  Effect.gen(function*() {
    const ensured = new Set<string>()
    const readyStreams = new Set<StreamDefinition>()
    const readySubjects = new Set<string>()
    const ensuring = yield* Effect.makeSemaphore(1)
    const ensure = (stream: StreamDefinition): Effect.Effect<void, MessageBusError> =>
      ensured.has(stream.name) ? Effect.void : ensuring.withPermits(1)(Effect.suspend(() => {
        if (ensured.has(stream.name)) return Effect.void
        const made = options.ensureStreams ? engine.ensureStream(stream) : Effect.void
        return Effect.map(made, () => {
          ensured.add(stream.name)
        })
      }))
    yield* Effect.forEach(options.declaration.atStartup, ensure, { discard: true })
    const refused = (message: string, details: Parameters<typeof busError>[1]) =>
      Effect.fail(busError(message, details, false))
    return {
      readyStreams,
      readySubjects,
      streamReady: (definition, operation, label) =>
        Either.match(StreamDeclaration.resolve(options.declaration, definition.stream), {
          onLeft: (problem) =>
            refused(`${label}: ${problem}`, { operation, stream: definition.stream.name, subject: definition.subject }),
          onRight: (stream) => Effect.map(ensure(stream), () => void readyStreams.add(definition.stream))
        }),
      subjectReady: (subject) =>
        Either.match(StreamDeclaration.streamHolding(options.declaration, subject), {
          onLeft: (problem) => refused(`Bus.publishEncoded ${subject}: ${problem}`, { operation: "publish", subject }),
          onRight: (stream) =>
            Effect.map(ensure(stream), () => {
              // Subjects of `publishEncoded` may carry ids: the set is bounded.
              SubjectCache.makeRoom(readySubjects)
              readySubjects.add(subject)
            })
        })
    }
  })
