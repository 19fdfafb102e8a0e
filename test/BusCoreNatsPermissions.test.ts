/**
 * Core NATS on a test-owned nats-server whose user may not subscribe to some subjects: a subscription the server
 * ends is logged (subject and reason, never the credentials), and the others go on.
 */
import { expect, it } from "@effect/vitest"
import { Effect, Logger, Option, Queue, Redacted, Schema } from "effect"
import { describe } from "vitest"
import * as CoreNats from "../src/Bus/CoreNats.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as Streams from "../src/Events/Streams.js"
import { eventually } from "./support/eventually.js"
import { startNatsServerWith } from "./support/natsServer.js"
import { toolAvailable } from "./support/tools.js"

const Reading = Schema.Struct({ n: Schema.Int })
const secret = "s3cret-core-pass"

describe.skipIf(!toolAvailable("nats-server"))("CoreNats with subscribe permissions", () => {
  it.scopedLive(
    "a subscription the server refuses is logged with its subject and reason; the others go on",
    () =>
      Effect.gen(function*() {
        const server = yield* Effect.acquireRelease(
          Effect.promise(() =>
            startNatsServerWith([], {
              config: `authorization { users = [ { user: "core", password: "${secret}", ` +
                `permissions: { subscribe: { deny: ["forbidden.>"] } } } ] }`
            })
          ),
          (s) => Effect.promise(s.dispose)
        )
        const logged: Array<string> = []
        const logger = Logger.make(({ annotations, message }) => {
          logged.push(JSON.stringify({ message, annotations: Object.fromEntries(annotations) }))
        })
        const layer = CoreNats.layer({
          servers: [server.url],
          user: Option.some("core"),
          password: Option.some(Redacted.make(secret)),
          token: Option.none(),
          serviceName: "core-permissions"
        })
        yield* Effect.gen(function*() {
          const allowed = `coreallowed${Date.now().toString(36)}`
          const def = (subject: string) =>
            EventDefinition.event(subject, Reading, {
              verbatim: true,
              stream: Streams.make(subject.split(".")[0]!.toUpperCase(), { subjects: [`${subject.split(".")[0]}.>`] })
            })
          const Forbidden = def("forbidden.ticked")
          const Allowed = def(`${allowed}.ticked`)
          const got = yield* Queue.unbounded<number>()
          yield* CoreNats.subscribe(Forbidden, {}, () => Effect.void)
          yield* CoreNats.subscribe(Allowed, {}, (event) => Queue.offer(got, event.payload.n))
          yield* eventually(
            Effect.sync(() => logged.filter((line) => line.includes("ended the subscription to forbidden.ticked"))),
            (lines) => lines.length > 0,
            "the refused subscription to be logged"
          )
          const line = logged.find((l) => l.includes("ended the subscription to forbidden.ticked"))!
          expect(line.toLowerCase()).toContain("permissions violation")
          expect(logged.join("\n")).not.toContain(secret)
          yield* eventually(
            Effect.zipRight(CoreNats.publish(Allowed, { n: 1 }), Queue.poll(got)),
            Option.isSome,
            "the allowed subscription to get a message"
          )
        }).pipe(Effect.provide(layer), Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      }),
    60_000
  )
})
