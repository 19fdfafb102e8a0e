/**
 * One MQTT conformance suite, two brokers: the embedded aedes broker and Mosquitto on the real server (with a
 * test-owned mosquitto for the restarts).
 */
import { Effect, Exit, Scope } from "effect"
import { afterAll, describe } from "vitest"
import * as EmbeddedBroker from "../src/Devices/internal/embeddedBroker.js"
import * as Sql from "../src/Sql/index.js"
import { conformance, type OwnedBroker } from "./fixtures/devices/conformance.js"
import { startMosquitto } from "./support/mosquittoServer.js"
import { serviceAvailable, services } from "./support/services.js"
import { toolAvailable } from "./support/tools.js"

const postgresUp = await serviceAvailable("postgres")
const mosquittoUp = await serviceAvailable("mosquitto")
const mosquittoProgram = toolAvailable("mosquitto")

const sql = Sql.layer({
  host: services.postgres.host,
  port: services.postgres.port,
  user: services.postgres.user,
  database: services.postgres.database
})

/** An embedded broker restarted on its own port and store, as a broker with persistence restarts. */
const ownEmbedded = async (): Promise<OwnedBroker> => {
  let scope = await Effect.runPromise(Scope.make())
  const first = await Effect.runPromise(Scope.extend(EmbeddedBroker.make(), scope))
  const { persistence, port } = first
  return {
    url: first.url,
    stop: () => Effect.runPromise(Scope.close(scope, Exit.void)),
    start: async () => {
      scope = await Effect.runPromise(Scope.make())
      await Effect.runPromise(Scope.extend(EmbeddedBroker.make({ port, persistence }), scope))
    },
    dispose: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

describe.skipIf(!postgresUp)("embedded broker", async () => {
  const shared = await ownEmbedded()
  afterAll(() => shared.dispose())
  conformance({
    name: "embedded",
    url: () => shared.url,
    ownBroker: ownEmbedded,
    sql,
    sharedSubscriptions: "every member"
  })
})

describe.skipIf(!postgresUp || !mosquittoUp || !mosquittoProgram)("mosquitto", () => {
  conformance({
    name: "mosquitto",
    url: () => `mqtt://${services.mosquitto.host}:${services.mosquitto.port}`,
    ownBroker: startMosquitto,
    sql,
    sharedSubscriptions: "split"
  })
})
