/**
 * The Redis rate limiter's minimum server version (5.0: its token bucket script reads `TIME` before it writes): a
 * test-owned stand-in server that speaks the protocol and says it is Redis 4.0, and the real Redis 6379.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, ConfigError, ConfigProvider, Effect, Exit, Layer, Option } from "effect"
import type * as Scope from "effect/Scope"
import * as Net from "node:net"
import * as RateLimit from "../src/Http/RateLimit.js"
import { serviceAvailable, services } from "./support/services.js"

const redisUp = await serviceAvailable("redis")

/**
 * A server on a free port of 127.0.0.1 answering every command as a Redis of `version` would answer the few a
 * client sends on connecting: `INFO` with the version, everything else `+OK`. Closed with the scope.
 */
const fakeRedis = (version: string): Effect.Effect<number, never, Scope.Scope> => {
  const sockets = new Set<Net.Socket>()
  return Effect.acquireRelease(
    Effect.async<Net.Server>((resume) => {
      const server = Net.createServer((socket) => {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
        let pending = ""
        socket.on("data", (chunk) => {
          pending += chunk.toString("latin1")
          // One RESP array per command: `*<n>`, then `$<len>` and the bytes of each argument.
          for (;;) {
            const header = /^\*(\d+)\r\n/.exec(pending)
            if (header === null) return
            let at = header[0].length
            const args: Array<string> = []
            for (let i = 0; i < Number(header[1]); i++) {
              const bulk = /^\$(\d+)\r\n/.exec(pending.slice(at))
              if (bulk === null || pending.length < at + bulk[0].length + Number(bulk[1]) + 2) return
              at += bulk[0].length
              args.push(pending.slice(at, at + Number(bulk[1])))
              at += Number(bulk[1]) + 2
            }
            pending = pending.slice(at)
            if (args[0]?.toLowerCase() === "info") {
              const info = `# Server\r\nredis_version:${version}\r\nloading:0\r\n`
              socket.write(`$${Buffer.byteLength(info)}\r\n${info}\r\n`)
            } else {
              socket.write("+OK\r\n")
              if (args[0]?.toLowerCase() === "quit") socket.end()
            }
          }
        })
        socket.on("error", () => socket.destroy())
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map((server) => (server.address() as Net.AddressInfo).port))
}

const configured = (url: string) =>
  Layer.setConfigProvider(ConfigProvider.fromJson({ service: { name: "meters" }, redis: { url } }))

describe("the Redis rate limiter's minimum server version", () => {
  it.scopedLive("a Redis older than 5.0 fails layerConfig with a ConfigError at redis.url saying so", () =>
    Effect.gen(function*() {
      const port = yield* fakeRedis("4.0.14")
      const exit = yield* Effect.exit(
        Layer.build(Layer.provide(RateLimit.layerConfig, configured(`redis://127.0.0.1:${port}`))).pipe(Effect.scoped)
      )
      const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      expect(Option.isSome(error) && ConfigError.isConfigError(error.value)).toBe(true)
      const message = String(Option.getOrUndefined(error))
      expect(message).toContain("redis.url")
      expect(message).toContain("Redis 4.0 at the Redis URL (redis.url) is older than the rate limiter needs")
      expect(message).toContain("Redis 5.0 or later")
      const direct = yield* Effect.exit(
        Layer.build(RateLimit.layerRedis(`redis://127.0.0.1:${port}`)).pipe(Effect.scoped)
      )
      const defect = Exit.isFailure(direct) ? Cause.dieOption(direct.cause) : Option.none()
      expect(String(Option.getOrUndefined(defect))).toContain("older than the rate limiter needs")
    }))

  it.scopedLive.skipIf(!redisUp)("the Redis of the machine (7.x) starts", () =>
    Effect.gen(function*() {
      const url = `redis://${services.redis.host}:${services.redis.port}`
      yield* Layer.build(Layer.provide(RateLimit.layerConfig, configured(url)))
    }))
})
