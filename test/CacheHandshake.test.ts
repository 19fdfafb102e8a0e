/**
 * The cache's connection when the server answers its handshake late (a test-owned redis-server behind a proxy of the
 * test's own): ioredis sends the URL's `SELECT` on connecting, and a `SELECT` not answered within the store's timeout
 * leaves the connection's database unknown. Such a connection is made again, never used: nothing reaches database 0.
 */
import { it } from "@effect/vitest"
import { Context, Effect, Layer, Option, Schema } from "effect"
import { Redis } from "ioredis"
import * as net from "node:net"
import { describe, expect } from "vitest"
import * as Cache from "../src/Cache/Cache.js"
import { capturingLogger, eventually } from "./fixtures/cache/conformance.js"
import { startRedis } from "./support/redisServer.js"
import { toolAvailable } from "./support/tools.js"

/**
 * A TCP proxy to `port` on 127.0.0.1. The first connection's answers are held back until the client sends `INFO`
 * without an argument (ioredis's ready check, sent once its `SELECT` and `CLIENT SETINFO` are answered or timed out),
 * so that every command before it times out and the ready check is answered; later connections pass as they are.
 */
const holdingProxy = (port: number) =>
  Effect.acquireRelease(
    Effect.async<{ readonly port: number; readonly server: net.Server; readonly connections: () => number }>(
      (resume) => {
        const sockets = new Set<net.Socket>()
        let connections = 0
        const server = net.createServer((client) => {
          const hold = connections++ === 0
          const upstream = net.connect(port, "127.0.0.1")
          sockets.add(client).add(upstream)
          const pending: Array<Buffer> = []
          let holding = hold
          let sent = ""
          client.on("data", (chunk: Buffer) => {
            upstream.write(chunk)
            if (!holding) return
            sent += chunk.toString("latin1")
            // The ready check's `INFO` has no argument (the cache's own look at a slow start asks `INFO persistence`).
            if (/\*1\r\n\$4\r\ninfo\r\n/i.test(sent)) {
              holding = false
              for (const answer of pending.splice(0)) client.write(answer)
            }
          })
          upstream.on("data", (chunk: Buffer) => {
            if (holding) pending.push(chunk)
            else client.write(chunk)
          })
          const close = () => {
            client.destroy()
            upstream.destroy()
          }
          client.on("close", close).on("error", close)
          upstream.on("close", close).on("error", close)
        })
        server.listen(0, "127.0.0.1", () =>
          resume(Effect.succeed({
            port: (server.address() as net.AddressInfo).port,
            server: Object.assign(server, { sockets }),
            connections: () => connections
          })))
      }
    ),
    ({ server }) =>
      Effect.async<void>((resume) => {
        for (const socket of (server as net.Server & { sockets: Set<net.Socket> }).sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  )

describe.skipIf(!toolAvailable("redis-server"))("a Redis that answers the connection's SELECT late", () => {
  it.live("the connection is made again: the URL's database refused once, nothing written to database 0", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      const server = yield* Effect.acquireRelease(
        Effect.promise(() => startRedis({ databases: 2 })),
        (server) => Effect.promise(server.stop)
      )
      const proxy = yield* holdingProxy(server.port)
      const cache = yield* Effect.map(
        Layer.build(Cache.layer({ url: `redis://127.0.0.1:${proxy.port}/5`, prefix: "late:", timeout: "300 millis" })),
        Context.get(Cache.Cache)
      )
      const refused = () => lines.filter((l) => l.includes("Redis database 5 cannot be selected"))
      yield* eventually(Effect.sync(refused), (found) => found.length > 0)
      expect(proxy.connections()).toBeGreaterThanOrEqual(2)
      yield* cache.set("user:ada", Schema.String, "ada@example.com")
      expect(yield* cache.get("user:ada", Schema.String)).toEqual(Option.none())

      const admin = yield* Effect.acquireRelease(
        Effect.sync(() => new Redis({ host: "127.0.0.1", port: server.port, maxRetriesPerRequest: 1 })),
        (admin) => Effect.sync(() => admin.disconnect())
      )
      expect(yield* Effect.promise(() => admin.keys("*"))).toEqual([])
      expect(refused()).toHaveLength(1)
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  }, 30_000)
})
