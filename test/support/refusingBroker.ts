/**
 * An aedes broker (MQTT 3.1.1) that refuses chosen subscriptions, as a broker's authorization does.
 */
import { Effect } from "effect"
import * as net from "node:net"

/** An aedes broker on a free loopback port that refuses (SUBACK 0x80) the subscriptions whose filter `refuses`. */
export const refusingBroker = (refuses: (filter: string) => boolean) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const { Aedes } = await import("aedes")
      const broker = await Aedes.createBroker({
        authorizeSubscribe: (_client, subscription, callback) =>
          callback(null, refuses(subscription.topic) ? null : subscription)
      })
      const server = net.createServer(broker.handle)
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
      const address = server.address() as net.AddressInfo
      return { broker, server, url: `mqtt://127.0.0.1:${address.port}` }
    }),
    ({ broker, server }) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          server.close()
          broker.close(() => resolve())
        })
      )
  )
