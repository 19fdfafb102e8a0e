/**
 * The core NATS conformance suite (test/fixtures/bus/coreConformance.ts) in memory and on the real server.
 */
import { Option } from "effect"
import { describe } from "vitest"
import * as CoreNats from "../src/Bus/CoreNats.js"
import { coreConformance } from "./fixtures/bus/coreConformance.js"
import { serviceAvailable, services } from "./support/services.js"

describe("memory", () => {
  coreConformance({ name: "memory", layer: CoreNats.layerMemory({ serviceName: "core" }) })
})

const natsUp = await serviceAvailable("nats")

describe.skipIf(!natsUp)("nats", () => {
  coreConformance({
    name: "nats",
    layer: CoreNats.layer({
      servers: [`nats://${services.nats.host}:${services.nats.port}`],
      user: Option.none(),
      password: Option.none(),
      token: Option.none(),
      serviceName: "core"
    })
  })
})
