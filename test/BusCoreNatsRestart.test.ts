/**
 * Core NATS across a restart of a test-owned nats-server: a request in flight when the server goes fails typed, and
 * the subscriptions and responders made before it are served again once the connection is back.
 */
import { expect, it } from "@effect/vitest"
import { Effect, Fiber, Option, Queue, Schema } from "effect"
import { describe } from "vitest"
import * as CoreNats from "../src/Bus/CoreNats.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as Streams from "../src/Events/Streams.js"
import { eventually } from "./support/eventually.js"
import { startNatsServer } from "./support/natsServer.js"
import { toolAvailable } from "./support/tools.js"

const Reading = Schema.Struct({ n: Schema.Int })

describe.skipIf(!toolAvailable("nats-server"))("CoreNats across a server restart", () => {
  it.scopedLive(
    "a request in flight fails typed; subscriptions and responders serve again after the reconnect",
    () =>
      Effect.gen(function*() {
        const server = yield* Effect.acquireRelease(Effect.promise(startNatsServer), (s) => Effect.promise(s.dispose))
        const layer = CoreNats.layer({
          servers: [server.url],
          user: Option.none(),
          password: Option.none(),
          token: Option.none(),
          serviceName: "core-restart"
        })
        yield* Effect.gen(function*() {
          const prefix = `corerestart${Date.now().toString(36)}`
          const stream = Streams.make(prefix.toUpperCase(), { subjects: [`${prefix}.>`] })
          const def = (name: string) => EventDefinition.event(`${prefix}.${name}`, Reading, { verbatim: true, stream })
          const [Ticked, Ask, Held, Answer] = [def("ticked"), def("ask"), def("held"), def("answer")]
          const got = yield* Queue.unbounded<number>()
          const held = yield* Queue.unbounded<number>()
          yield* CoreNats.subscribe(Ticked, { queue: "watchers" }, (event) => Queue.offer(got, event.payload.n))
          yield* CoreNats.serve(Ask, Answer, { queue: "responders" }, (event) => Effect.succeed(event.payload))
          yield* CoreNats.serve(
            Held,
            Answer,
            {},
            (event) => Effect.zipRight(Queue.offer(held, event.payload.n), Effect.never)
          )
          const inFlight = yield* Effect.fork(CoreNats.request(Held, { n: 1 }, Answer, { timeout: "2 seconds" }))
          yield* Queue.take(held)
          yield* Effect.promise(server.restart)
          const lost = yield* Effect.flip(Fiber.join(inFlight))
          expect(["RequestTimeoutError", "MessageBusError"]).toContain(lost._tag)
          // Served again: published messages arrive and requests are answered once the subscriptions are back.
          let n = 0
          yield* eventually(
            Effect.zipRight(CoreNats.publish(Ticked, { n: ++n }), Queue.poll(got)),
            Option.isSome,
            "a published message to arrive after the restart",
            30_000
          )
          const reply = yield* eventually(
            Effect.either(CoreNats.request(Ask, { n: 42 }, Answer, { timeout: "1 second" })),
            (r) => r._tag === "Right",
            "a request to be answered after the restart",
            30_000
          )
          expect(reply._tag === "Right" && reply.right.payload).toStrictEqual({ n: 42 })
        }).pipe(Effect.provide(layer))
      }),
    90_000
  )
})
