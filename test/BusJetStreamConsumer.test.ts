/**
 * The durable consumer of a subscription on the shared nats-server: one that exists with settings the Bus cannot
 * consume through (acks other than explicit, a push consumer) is refused and left as it is.
 */
import { describe, expect, it } from "@effect/vitest"
import { AckPolicy, type ConsumerConfig, jetstreamManager } from "@nats-io/jetstream"
import { nanos } from "@nats-io/nats-core"
import { connect } from "@nats-io/transport-node"
import { Duration, Effect, Layer, Option, Queue, Schema } from "effect"
import * as Bus from "../src/Bus/Bus.js"
import { BusConfig, JetStream } from "../src/Bus/index.js"
import { MessageBusError } from "../src/Errors/index.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as Streams from "../src/Events/Streams.js"
import { unique } from "./fixtures/bus/conformance.js"
import { serviceAvailable, services } from "./support/services.js"

const natsUp = await serviceAvailable("nats")
const url = `nats://${services.nats.host}:${services.nats.port}`

const options = (extra?: Partial<JetStream.JetStreamOptions>): JetStream.JetStreamOptions => ({
  servers: [url],
  user: Option.none(),
  password: Option.none(),
  token: Option.none(),
  serviceName: "bus-consumer-test",
  appEnv: "test",
  streams: BusConfig.defaultStreamLimits,
  publishTimeout: Duration.seconds(2),
  publishRetryBudget: Duration.seconds(30),
  ownStreams: Option.none(),
  ensureStreams: true,
  ...extra
})

const withJsm = <A>(f: (jsm: Awaited<ReturnType<typeof jetstreamManager>>) => Promise<A>) =>
  Effect.promise(async () => {
    const nc = await connect({ servers: url })
    try {
      return await f(await jetstreamManager(nc))
    } finally {
      await nc.close()
    }
  })

/** A stream of the test's own (deleted when the scope closes), a `job` event `{ n }` on it, and a Bus declaring it. */
const ownStream = (name: string) =>
  Effect.gen(function*() {
    const suffix = unique(name).replace(/[^a-z0-9]/gi, "").toLowerCase()
    const stream = Streams.make(`CONSUMER${name}_${suffix}`.toUpperCase(), { domain: `consumer${name}${suffix}` })
    const Def = EventDefinition.event(`${stream.domain}.job`, Schema.Struct({ n: Schema.Number }), { stream })
    yield* Effect.addFinalizer(() => withJsm((jsm) => jsm.streams.delete(stream.name)).pipe(Effect.ignore))
    const ctx = yield* Layer.build(JetStream.layer(options({ streamDefinitions: [stream] })))
    return { Def, ctx, stream }
  })

describe.skipIf(!natsUp)("Bus on JetStream: the durable consumer", () => {
  it.scopedLive(
    "a durable that exists with acks other than explicit, or as a push consumer, is refused at subscribe and kept",
    () =>
      Effect.gen(function*() {
        const { Def, ctx, stream } = yield* ownStream("policy")
        const made: ReadonlyArray<Partial<ConsumerConfig> & { readonly durable_name: string; readonly why: RegExp }> = [
          { durable_name: unique("none"), ack_policy: AckPolicy.None, why: /ack_policy none/ },
          { durable_name: unique("all"), ack_policy: AckPolicy.All, why: /ack_policy all/ },
          {
            durable_name: unique("push"),
            ack_policy: AckPolicy.Explicit,
            deliver_subject: `consumer.push.${unique("inbox")}`,
            why: /push consumer/
          }
        ]
        for (const { why: _, ...config } of made) {
          yield* withJsm((jsm) =>
            jsm.consumers.add(stream.name, { ...config, filter_subject: Def.subject, ack_wait: nanos(20_000) })
          )
        }
        const handled = yield* Queue.unbounded<number>()
        for (const { durable_name, why } of made) {
          const error = yield* Effect.flip(
            Bus.subscribe(Def, { durable: durable_name, ackWait: "45 seconds" }, (event) =>
              Queue.offer(handled, event.payload.n)).pipe(Effect.provide(ctx))
          )
          expect(error).toBeInstanceOf(MessageBusError)
          expect(error.retryable).toBe(false)
          expect(error.message).toContain(durable_name)
          expect(error.message).toMatch(why)
          // Left as it was: not updated to the subscription's ack wait, not deleted.
          const info = yield* withJsm((jsm) =>
            jsm.consumers.info(stream.name, durable_name)
          )
          expect(info.config.ack_wait).toBe(nanos(20_000))
        }
      })
  )
})
