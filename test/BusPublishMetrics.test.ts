/**
 * `bus_messages_published_total` on the real JetStream: labelled by the stream that stored the message and the
 * definition's subject, never by a subject as published (`publishEncoded` subjects may carry ids, one series each
 * would be a cardinality bomb for Prometheus).
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Duration, Effect, Metric, Option, Schema } from "effect"
import * as Bus from "../src/Bus/Bus.js"
import { BusConfig, BusMetrics, JetStream } from "../src/Bus/index.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as Streams from "../src/Events/Streams.js"
import { serviceAvailable, services } from "./support/services.js"

const natsUp = await serviceAvailable("nats")
const url = `nats://${services.nats.host}:${services.nats.port}`
const run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`

describe.skipIf(!natsUp)("bus_messages_published_total", () => {
  const stream = Streams.make(`BUSPUBMET_${run}`.toUpperCase(), { domain: `buspubmet${run}` })
  const Placed = EventDefinition.event(`${stream.domain}.placed`, Schema.Struct({ n: Schema.Int }), { stream })
  const layer = JetStream.layer({
    servers: [url],
    user: Option.none(),
    password: Option.none(),
    token: Option.none(),
    serviceName: "publish-metrics",
    appEnv: "test",
    streams: { ...BusConfig.defaultStreamLimits, duplicateWindow: Duration.minutes(1) },
    publishTimeout: Duration.seconds(5),
    publishRetryBudget: Duration.seconds(10),
    ownStreams: Option.none(),
    ensureStreams: true,
    streamDefinitions: [stream]
  })

  afterAll(async () => {
    const nc = await connect({ servers: url })
    await (await jetstreamManager(nc)).streams.delete(stream.name).catch(() => undefined)
    await nc.close()
  })

  it.live(
    "is labelled by stream and event type, whatever ids the published subjects carry",
    () =>
      Effect.gen(function*() {
        yield* Bus.publish(Placed, { n: 1 })
        const ids = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()]
        for (const id of ids) {
          yield* Bus.publishEncoded({
            subject: `evt.${stream.domain}.order.${id}`,
            body: JSON.stringify({ event_id: id }),
            msgId: id
          })
        }
        const series = (yield* Metric.snapshot).filter((pair) =>
          pair.metricKey.name === "bus_messages_published_total" &&
          pair.metricKey.tags.some((tag) => tag.value.includes(stream.domain) || tag.value === stream.name)
        )
        const described = series.map((pair) => ({
          labels: Object.fromEntries(pair.metricKey.tags.map((tag) => [tag.key, tag.value])),
          count: (pair.metricState as unknown as { readonly count: number }).count
        }))
        expect(described).toHaveLength(2)
        expect(described).toEqual(expect.arrayContaining([
          { labels: { stream: stream.name, event_type: Placed.subject }, count: 1 },
          { labels: { stream: stream.name, event_type: BusMetrics.encodedEventType }, count: 3 }
        ]))
        for (const id of ids) expect(JSON.stringify(described)).not.toContain(id)
      }).pipe(Effect.provide(layer)),
    60_000
  )
})
