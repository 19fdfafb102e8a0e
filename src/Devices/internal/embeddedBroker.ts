/**
 * An in-process MQTT broker (aedes) listening on a loopback port, for development, examples and tests when no
 * broker is configured.
 *
 * aedes has no shared subscriptions: a `$share/<group>/<filter>` subscription would match no topic, and its
 * subscriber would receive nothing. The broker subscribes it to `<filter>` (and unsubscribes it from there), so each
 * member of a group receives every message of the filter: the same as sharing for the one client of a service's own
 * embedded broker, and every message to each of several clients of one broker.
 *
 * @internal
 */
import type { Aedes, Client, Subscription, UnsubscribePacket } from "aedes"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as net from "node:net"
import { MqttError } from "./errors.js"

/** @internal */
export interface EmbeddedBroker {
  readonly url: string
  readonly port: number
  /**
   * The broker's store of sessions, retained messages and wills: a broker made with it (`persistence`) starts with
   * what this one held, as a broker restarted on a persistent store does.
   */
  readonly persistence: unknown
}

/** @internal */
export interface EmbeddedBrokerOptions {
  /** Default: a free port. */
  readonly port?: number | undefined
  /** The store of an earlier broker (see {@link EmbeddedBroker.persistence}); default a new in-memory one. */
  readonly persistence?: unknown
}

const sharePrefix = "$share/"

/** The filter of a shared subscription (`$share/<group>/<filter>`), or nothing for another topic. */
const sharedFilter = (topic: string): string | undefined => {
  if (!topic.startsWith(sharePrefix)) return undefined
  const slash = topic.indexOf("/", sharePrefix.length)
  return slash <= sharePrefix.length || slash === topic.length - 1 ? undefined : topic.slice(slash + 1)
}

/** Subscribes shared subscriptions to their filter, and unsubscribes them from it. */
const withSharedAsPlain = (broker: Aedes): void => {
  const authorize = broker.authorizeSubscribe
  broker.authorizeSubscribe = (client: Client, subscription: Subscription, callback) => {
    const filter = sharedFilter(subscription.topic)
    if (filter !== undefined) subscription.topic = filter
    authorize.call(broker, client, subscription, callback)
  }
  // The client's UNSUBSCRIBE of the shared topic is acknowledged; its filter is taken away here, from the session's
  // stored subscriptions too (an UNSUBSCRIBE without a packet id is not acknowledged and stores nothing).
  const persistence = (broker as unknown as { readonly persistence: StoredSubscriptions }).persistence
  broker.on("unsubscribe", (topics, client) => {
    const filters = topics.flatMap((topic) => sharedFilter(topic) ?? [])
    if (filters.length === 0) return
    const unsubscribe = () =>
      client.unsubscribe({ unsubscriptions: filters } as unknown as UnsubscribePacket, () => undefined)
    if (client.clean) return unsubscribe()
    persistence.removeSubscriptions(client, filters).catch(() => undefined).then(unsubscribe)
  })
}

/** The part of aedes' persistence that keeps a session's subscriptions. */
interface StoredSubscriptions {
  readonly removeSubscriptions: (client: Client, topics: ReadonlyArray<string>) => Promise<void>
}

const closeBroker = (broker: Aedes, server: net.Server): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    let pending = 2
    const done = () => {
      if (--pending === 0) resume(Effect.void)
    }
    server.close(() => done())
    broker.close(() => done())
  }).pipe(Effect.timeout("5 seconds"), Effect.ignore)

/**
 * Starts the broker on 127.0.0.1; it stops when the scope closes.
 *
 * @internal
 */
export const make = (options: EmbeddedBrokerOptions = {}): Effect.Effect<EmbeddedBroker, MqttError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        // Imported here: a service that never starts the embedded broker does not load aedes.
        const { Aedes } = await import("aedes")
        const broker = await Aedes.createBroker(
          options.persistence === undefined ? {} : { persistence: options.persistence }
        )
        // A client's protocol error or dropped socket is the client's: the broker goes on serving the others.
        broker.on("clientError", () => undefined)
        broker.on("connectionError", () => undefined)
        withSharedAsPlain(broker)
        const server = net.createServer(broker.handle)
        try {
          await new Promise<void>((resolve, reject) => {
            server.once("error", reject)
            server.listen(options.port ?? 0, "127.0.0.1", () => {
              server.off("error", reject)
              resolve()
            })
          })
        } catch (e) {
          broker.close()
          throw e
        }
        const address = server.address()
        const port = typeof address === "object" && address !== null ? address.port : 0
        const persistence: unknown = (broker as unknown as { readonly persistence: unknown }).persistence
        return { broker, server, port, persistence }
      },
      catch: (e) =>
        new MqttError({
          message: `Cannot start the embedded MQTT broker: ${e instanceof Error ? e.message : String(e)}`,
          details: { operation: "embedded" },
          retryable: false,
          cause: e
        })
    }),
    ({ broker, server }) => closeBroker(broker, server)
  ).pipe(Effect.map(({ persistence, port }) => ({ url: `mqtt://127.0.0.1:${port}`, port, persistence })))
