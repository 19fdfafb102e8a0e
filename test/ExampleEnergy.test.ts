/**
 * The energy example on embedded defaults (PGlite, the in-memory bus, the embedded MQTT broker): simulated meters
 * publish readings over MQTT, and a reading shows in the HTTP answer.
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as path from "node:path"
import { Energy, EnergyServiceLive, metersLive, migrations, ReadingRecorded } from "../examples/energy-meter.js"
import { makeGlamLive } from "../src/index.js"

interface MeterAnswer {
  readonly data: { readonly meter_id: string; readonly readings: number; readonly status: string }
}

describe("examples/energy-meter.ts", () => {
  it.scopedLive(
    "meters' readings over MQTT become events, whose aggregate the HTTP API serves",
    () =>
      Effect.gen(function*() {
        const client = yield* HttpClient.HttpClient
        const deadline = Date.now() + 60_000
        let answer: MeterAnswer | undefined
        while (Date.now() < deadline) {
          const response = yield* client.execute(HttpClientRequest.get("/api/v1/meters/meter-1"))
          if (response.status === 200) {
            answer = (yield* response.json) as MeterAnswer
            if (answer.data.readings >= 1) break
          }
          yield* Effect.sleep("100 millis")
        }
        expect(answer?.data).toMatchObject({ meter_id: "meter-1", status: "online" })
        expect(answer?.data.readings).toBeGreaterThanOrEqual(1)
        const ready = yield* client.execute(HttpClientRequest.get("/api/v1/ready"))
        expect(ready.status).toBe(200)
        // The MQTT connection and the registry's subscriptions, which Devices.layerConfig registers, beside the checks
        // GlamLive registers.
        const report = (yield* ready.json) as { data: { checks: Record<string, unknown> } }
        expect(Object.keys(report.data.checks).sort()).toEqual(["bus", "database", "devices", "mqtt", "outbox"])
        // The devices' metrics under the names of the issue, with their labels.
        const metrics = yield* (yield* client.execute(HttpClientRequest.get("/metrics"))).text
        const sample = (name: string, labels: Record<string, string>) => {
          const line = metrics.split("\n").find((l) =>
            l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`))
          )
          return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1))
        }
        expect(
          sample("mqtt_messages_received_total", { topic_pattern: "devices/{device_id}/data", outcome: "handled" })
        )
          .toBeGreaterThanOrEqual(1)
        expect(metrics).toMatch(/^mqtt_connection_up(\{[^}]*\})? 1$/m)
        expect(metrics).toMatch(/^devices_online(\{[^}]*\})? [12]$/m)
      }).pipe(
        Effect.provide(
          metersLive({ count: 2, every: "200 millis" }).pipe(
            Layer.provideMerge(EnergyServiceLive),
            Layer.provideMerge(NodeHttpServer.layerTest),
            Layer.provideMerge(
              makeGlamLive({
                service: "energy-service",
                root: path.resolve(import.meta.dirname, "../examples"),
                // In memory: the test neither reads nor leaves data in examples/.glam, which `npm start:energy` uses.
                env: { ENERGY_DATABASE__EMBEDDED_DIR: "memory://" },
                migrations,
                streams: [Energy],
                events: [ReadingRecorded]
              })
            )
          )
        )
      ),
    { timeout: 120_000 }
  )
})
