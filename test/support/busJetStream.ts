/**
 * What the JetStream Bus tests share: the Bus's options for a test service, a JetStream manager on a connection of
 * its own, a nats-server of the test's own in a scope, and the lines logged.
 */
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Duration, Effect, Logger, Option } from "effect"
import { BusConfig, type JetStream } from "../../src/Bus/index.js"
import { type NatsServer, startNatsServer } from "./natsServer.js"

/** The options of a Bus of `serviceName` on `servers`: no credentials, default limits, streams ensured. */
export const jetStreamOptions = (
  serviceName: string,
  servers: string,
  extra?: Partial<JetStream.JetStreamOptions>
): JetStream.JetStreamOptions => ({
  servers: [servers],
  user: Option.none(),
  password: Option.none(),
  token: Option.none(),
  serviceName,
  appEnv: "test",
  streams: BusConfig.defaultStreamLimits,
  publishTimeout: Duration.seconds(2),
  publishRetryBudget: Duration.seconds(30),
  ownStreams: Option.none(),
  ensureStreams: true,
  ...extra
})

/** Runs `f` with a JetStream manager on a connection to `servers` of its own, closed after. */
export const withJsm = <A>(servers: string, f: (jsm: Awaited<ReturnType<typeof jetstreamManager>>) => Promise<A>) =>
  Effect.promise(async () => {
    const nc = await connect({ servers })
    try {
      return await f(await jetstreamManager(nc))
    } finally {
      await nc.close()
    }
  })

/** A nats-server of the test's own, stopped when the scope closes. */
export const natsServer = Effect.acquireRelease(
  Effect.promise(startNatsServer),
  (s: NatsServer) => Effect.promise(() => s.dispose())
)

/** The lines logged while the returned layer is provided. */
export const captureLogs = () => {
  const lines: Array<{ readonly level: string; readonly message: string }> = []
  const layer = Logger.add(Logger.make(({ logLevel, message }) => {
    lines.push({ level: logLevel.label, message: [message].flat().join(" ") })
  }))
  return { lines, layer }
}
