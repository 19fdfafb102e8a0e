/**
 * Which streams a Bus has made ready: each is ensured once per Bus, by name (those declared for startup when the Bus
 * is made, the others when first used), and a definition or subject whose stream is not declared is refused. Once
 * its stream is ready, the check of a publish is one set lookup. A ready stream deleted from outside is found by the
 * publish it fails (`onNoStream`: no stream took the subject, or no answer came, as when a core NATS subscriber
 * listens on the subject), and made again when streams are ensured.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Schedule from "effect/Schedule"
import type { MessageBusError } from "../../Errors/Errors.js"
import type * as EventDefinition from "../../Events/Events.js"
import type { StreamDefinition } from "../../Events/Streams.js"
import * as SubjectCache from "../../internal/subjectCache.js"
import type * as JetStreamSetup from "../JetStreamSetup.js"
import { busError, noStreamError } from "./busError.js"
import type { Engine, StreamPresence, StreamWatch } from "./engine.js"
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
  /** The name of the declared stream that holds `subject`, if one does. */
  readonly streamHolding: (subject: string) => string | undefined
  /** Makes ready the declared stream that holds `subject`, or refuses a subject no declared stream holds. */
  readonly subjectReady: (subject: string) => Effect.Effect<void, MessageBusError>
  /**
   * What a publish does when no stream took its subject or no answer came (`publishRetry.OnNoStream`): looks the
   * declared stream that holds it up and, when the server answers that it is missing, makes it again (with
   * `ensureStreams`, logging a warning) or fails naming it (the error the publish ends with if its retries find no
   * stream either). Concurrent publishes to a stream share one look-up.
   */
  readonly onNoStream: (subject: string) => Effect.Effect<boolean, MessageBusError>
  /**
   * What a subscription does about its stream found missing (see `Engine.pump`): makes it again with
   * `ensureStreams` (sharing the look-up with publishes, a few tries, a warning), else fails naming it.
   */
  readonly watch: (stream: string) => StreamWatch
  /** The streams of subscriptions found missing and not made again: `Bus.health` is unhealthy while one is. */
  readonly missingStreams: ReadonlySet<string>
}

// The look-ups of a subscription's missing stream that could not tell: four more, within about three seconds.
const remakeRetry = Schedule.exponential("200 millis").pipe(Schedule.intersect(Schedule.recurs(4)))

/** The readiness of a Bus's streams, with those declared for startup ensured. @internal */
export const make = (
  engine: Engine,
  options: { readonly declaration: JetStreamSetup.Declaration; readonly ensureStreams: boolean }
): Effect.Effect<StreamReadiness, MessageBusError> =>
  Effect.gen(function*() {
    const ensured = new Set<string>()
    // The declared streams made ready, by name: those a subscription's stream is looked up in.
    const declared = new Map<string, StreamDefinition>()
    const readyStreams = new Set<StreamDefinition>()
    const readySubjects = new Set<string>()
    const ensuring = yield* Effect.makeSemaphore(1)
    const ensure = (stream: StreamDefinition): Effect.Effect<void, MessageBusError> =>
      ensured.has(stream.name) ? Effect.void : ensuring.withPermits(1)(Effect.suspend(() => {
        if (ensured.has(stream.name)) return Effect.void
        const made = options.ensureStreams ? engine.ensureStream(stream) : Effect.void
        return Effect.map(made, () => {
          ensured.add(stream.name)
          declared.set(stream.name, stream)
        })
      }))
    yield* Effect.forEach(options.declaration.atStartup, ensure, { discard: true })
    // A definition or subject no declared stream takes.
    const refused = (message: string, details: Parameters<typeof busError>[1]) =>
      Effect.fail(noStreamError(message, details, false))
    // What the server answered about a stream: `undefined` when it could not tell (no leader, a timeout, a
    // restart), and the publish is retried as before.
    const lookUp = (stream: StreamDefinition): Effect.Effect<StreamPresence | undefined> =>
      Effect.matchEffect(engine.remakeStream(stream, options.ensureStreams), {
        onFailure: (error) =>
          Effect.as(
            Effect.logDebug(`Bus: could not look up stream ${stream.name} after a publish found no stream or no answer`)
              .pipe(
                Effect.annotateLogs("error", error.message)
              ),
            undefined
          ),
        onSuccess: (presence) =>
          presence !== "remade" ? Effect.succeed(presence) : Effect.as(
            Effect.logWarning(
              `Bus: stream ${stream.name} was missing (deleted from outside) and is made again; publishes to it go ` +
                "through, and its subscriptions consume from it again"
            ),
            presence
          )
      })
    // Concurrent publishes to a stream share one look-up (and one remake, one warning).
    const lookingUp = new Map<string, Deferred.Deferred<StreamPresence | undefined>>()
    const shared = (stream: StreamDefinition): Effect.Effect<StreamPresence | undefined> =>
      Effect.suspend(() => {
        const running = lookingUp.get(stream.name)
        if (running !== undefined) return Deferred.await(running)
        const result = Deferred.unsafeMake<StreamPresence | undefined>(FiberId.none)
        lookingUp.set(stream.name, result)
        return Effect.onExit(lookUp(stream), (exit) =>
          Effect.sync(() => {
            lookingUp.delete(stream.name)
            // An interrupted look-up tells the publishes waiting on it nothing: they retry as before.
            Deferred.unsafeDone(result, Exit.isSuccess(exit) ? exit : Exit.succeed(undefined))
          }))
      })
    const onNoStream = (stream: StreamDefinition, subject: string): Effect.Effect<boolean, MessageBusError> =>
      Effect.flatMap(shared(stream), (presence) =>
        presence === "missing"
          ? Effect.fail(noStreamError(
            `Publish to ${subject} failed: stream ${stream.name} does not exist (deleted from outside, or not made ` +
              "yet), and nats.ensure_streams is false: the Bus does not make it",
            { operation: "publish", stream: stream.name, subject },
            true
          ))
          : Effect.succeed(presence === "remade"))
    const missingStreams = new Set<string>()
    const watch = (name: string): StreamWatch => {
      const unready = (message: string) =>
        Effect.zipRight(
          Effect.sync(() => missingStreams.add(name)),
          Effect.fail(busError(message, { operation: "subscribe", stream: name }, true))
        )
      const missing = Effect.suspend(() => {
        const stream = declared.get(name)
        if (stream === undefined) return Effect.void
        return shared(stream).pipe(
          // A look-up that could not tell is tried again a few times; the subscription's retry goes on after that.
          Effect.repeat(
            remakeRetry.pipe(
              Schedule.whileInput((presence: StreamPresence | undefined) => presence === undefined),
              Schedule.passthrough
            )
          ),
          Effect.flatMap((presence) =>
            presence === "missing"
              ? unready(
                `Stream ${name} does not exist (deleted from outside), and nats.ensure_streams is false: the Bus ` +
                  "does not make it; its subscriptions consume once it is made"
              )
              : presence === undefined
              ? unready(`Stream ${name} is missing and could not be looked up or made again; retrying`)
              : Effect.sync(() => void missingStreams.delete(name))
          )
        )
      })
      return { missing, found: Effect.sync(() => void missingStreams.delete(name)) }
    }
    return {
      missingStreams,
      watch,
      readyStreams,
      readySubjects,
      streamReady: (definition, operation, label) =>
        Either.match(StreamDeclaration.resolve(options.declaration, definition.stream), {
          onLeft: (problem) =>
            refused(`${label}: ${problem}`, { operation, stream: definition.stream.name, subject: definition.subject }),
          onRight: (stream) => Effect.map(ensure(stream), () => void readyStreams.add(definition.stream))
        }),
      streamHolding: (subject) => StreamDeclaration.findStreamHolding(options.declaration, subject)?.name,
      subjectReady: (subject) =>
        Either.match(StreamDeclaration.streamHolding(options.declaration, subject), {
          onLeft: (problem) => refused(`Bus.publishEncoded ${subject}: ${problem}`, { operation: "publish", subject }),
          onRight: (stream) =>
            Effect.map(ensure(stream), () => {
              // Subjects of `publishEncoded` may carry ids: the set is bounded.
              SubjectCache.makeRoom(readySubjects)
              readySubjects.add(subject)
            })
        }),
      onNoStream: (subject) => {
        const stream = StreamDeclaration.findStreamHolding(options.declaration, subject)
        return stream === undefined ? Effect.succeed(false) : onNoStream(stream, subject)
      }
    }
  })
