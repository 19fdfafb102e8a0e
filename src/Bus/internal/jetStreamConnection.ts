/**
 * The NATS connection of the JetStream Bus (and of core NATS): credentials resolved from the configuration,
 * reconnecting forever with jitter, drained and closed with its scope; and async iterables of the client as streams.
 *
 * @internal
 */
import type { NatsConnection } from "@nats-io/nats-core"
import { connect } from "@nats-io/transport-node"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { redactUrlCredentials } from "../../Config/Redaction.js"
import type { MessageBusError } from "../../Errors/Errors.js"
import * as ConfiguredSecrets from "../../internal/configuredSecrets.js"
import type { JetStreamOptions } from "../JetStream.js"
import { busError } from "./busError.js"
import { errorMessage } from "./jetStreamFailures.js"
import * as NatsAuth from "./natsAuth.js"

/** What a connection is opened from. @internal */
export type ConnectionOptions = Pick<
  JetStreamOptions,
  "servers" | "user" | "password" | "token" | "serviceName" | "drainTimeout" | "connectTimeout"
>

/**
 * A stream over an async iterable that is stopped (not `return()`ed, which would wait for a pending `next()`)
 * when the stream ends or is interrupted.
 *
 * @internal
 */
export const fromIterable = <A, E>(
  acquire: Effect.Effect<AsyncIterable<A>, E>,
  stop: (iterable: AsyncIterable<A>) => void,
  onError: (e: unknown) => E
): Stream.Stream<A, E> =>
  Stream.unwrapScoped(
    Effect.acquireRelease(acquire, (iterable) => Effect.sync(() => stop(iterable))).pipe(
      Effect.map((iterable) => {
        const iterator = iterable[Symbol.asyncIterator]()
        return Stream.repeatEffectOption(
          Effect.tryPromise({ try: () => iterator.next(), catch: (e) => Option.some(onError(e)) }).pipe(
            Effect.flatMap((r) => (r.done === true ? Effect.fail(Option.none()) : Effect.succeed(r.value)))
          )
        )
      })
    )
  )

/** `nats.connect_timeout`'s default. */
const defaultConnectTimeout = Duration.seconds(5)

const open = (options: ConnectionOptions, auth: NatsAuth.NatsAuth): Effect.Effect<NatsConnection, MessageBusError> =>
  Effect.tryPromise({
    try: () =>
      connect({
        servers: [...auth.servers],
        name: options.serviceName,
        ...(Option.isSome(auth.user) ? { user: auth.user.value } : {}),
        ...(Option.isSome(auth.password) ? { pass: Redacted.value(auth.password.value) } : {}),
        ...(Option.isSome(auth.token) ? { token: Redacted.value(auth.token.value) } : {}),
        // Given `tls`, the client refuses a server that does not offer TLS before it sends the credentials; without
        // it, it reads `tls://` as `nats://` and upgrades only where the server offers TLS.
        ...(auth.tls ? { tls: {} } : {}),
        maxReconnectAttempts: -1,
        reconnectTimeWait: 1000,
        reconnectJitter: 500,
        reconnectJitterTLS: 1000,
        pingInterval: 10_000,
        timeout: Duration.toMillis(options.connectTimeout ?? defaultConnectTimeout),
        // The client would capture a stack trace (two Error objects) per request, publishes included, to
        // decorate a later timeout; failures here are typed with operation, stream and subject instead.
        noAsyncTraces: true
      }),
    // The servers are named as the client was given them, their credentials taken out (`auth.servers`): the
    // configured URLs may hold a password no text redaction can be sure to find whole.
    catch: (e) =>
      busError(
        `Cannot connect to NATS at ${auth.servers.join(", ")}: ${
          e instanceof Error && e.name === "TimeoutError"
            ? `no NATS answer within ${
              Duration.format(options.connectTimeout ?? defaultConnectTimeout)
            } (nats.connect_timeout): is it a NATS server's address?`
            : auth.tls && /does not support 'tls'/.test(errorMessage(e))
            ? "the server does not offer TLS, which tls:// in nats.servers requires (credentials not sent)"
            : redactUrlCredentials(errorMessage(e))
        }`,
        { operation: "connect" },
        true,
        e
      )
  })

/**
 * Drains, then closes. Each wait is made interruptible inside its timeout's own fiber: a finalizer of an
 * interrupted fiber (the service stopping on SIGTERM) would otherwise skip an interruptible region entirely, and
 * never drain.
 */
const close = (nc: NatsConnection, drainTimeout: Duration.DurationInput | undefined): Effect.Effect<void> =>
  Effect.promise(() => nc.drain().catch(() => undefined)).pipe(
    Effect.interruptible,
    Effect.timeout(drainTimeout ?? Duration.seconds(10)),
    Effect.ignore,
    Effect.zipRight(
      Effect.promise(() => nc.close().catch(() => undefined)).pipe(
        Effect.interruptible,
        Effect.timeout(Duration.seconds(5)),
        Effect.ignore
      )
    )
  )

/**
 * Opens a NATS connection that drains and closes when the scope closes (see `JetStream.connection`). Its password,
 * token and the credentials of its servers' URLs are hidden in the toolkit's logs and spans while the scope is open.
 *
 * @internal
 */
export const connection = (
  options: ConnectionOptions
): Effect.Effect<NatsConnection, MessageBusError, Scope.Scope> => {
  const resolved = NatsAuth.resolve(options)
  // The URLs' credentials as the client logs in with them too: a server given without a scheme (`token@host:4222`).
  const loggingIn = Either.match(resolved, { onLeft: () => [], onRight: (auth) => [auth.password, auth.token] })
  return ConfiguredSecrets.registerGiven({
    secrets: [options.password, options.token, ...loggingIn].map(Option.getOrUndefined),
    urls: options.servers
  }).pipe(
    Effect.zipRight(Effect.acquireRelease(
      Either.match(resolved, {
        onLeft: (problem) => Effect.fail(busError(`Invalid NATS servers: ${problem}`, { operation: "connect" }, false)),
        onRight: (auth) => open(options, auth)
      }),
      (nc) => close(nc, options.drainTimeout)
    )),
    Effect.withSpan("Bus.connect")
  )
}
