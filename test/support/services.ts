/**
 * Reachability of the real servers the integration suites use.
 *
 * In CI (`GLAM_REQUIRE_SERVICES=1`, set by `.ci/run`) an unreachable server fails the suite. Locally
 * the suite is skipped with a loud message naming the server, so a laptop without NATS can still
 * run the unit tests.
 */
import * as net from "node:net"

/** Connection facts for the machine's servers (override with the usual variables). */
export const services = {
  postgres: {
    name: "PostgreSQL",
    host: process.env.PGHOST ?? "127.0.0.1",
    port: Number(process.env.PGPORT ?? 5432),
    user: process.env.PGUSER ?? "postgres",
    database: process.env.PGDATABASE ?? "test"
  },
  nats: {
    name: "NATS",
    host: "127.0.0.1",
    port: Number(process.env.GLAM_TEST_NATS_PORT ?? 4222)
  },
  redis: {
    name: "Redis",
    host: "127.0.0.1",
    port: Number(process.env.GLAM_TEST_REDIS_PORT ?? 6379)
  },
  mosquitto: {
    name: "Mosquitto",
    host: "127.0.0.1",
    port: Number(process.env.GLAM_TEST_MQTT_PORT ?? 1883)
  }
} as const

const canConnect = (host: string, port: number, timeoutMs = 2000): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect({ host, port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
  })

/**
 * What a suite does when something it needs is missing: under `GLAM_REQUIRE_SERVICES=1` (in `env`) it throws,
 * otherwise it prints a loud warning and returns `false` so the caller can `describe.skipIf(!available)`.
 *
 * The warning goes straight to stderr: vitest (`silent: "passed-only"`) shows console output of failing tests
 * only, and a skipped suite must still be seen.
 */
export const unavailable = (
  message: string,
  options: { readonly skipped: string; readonly remedy: string; readonly env?: NodeJS.ProcessEnv }
): false => {
  if ((options.env ?? process.env).GLAM_REQUIRE_SERVICES === "1") {
    throw new Error(`${message}; ${options.skipped} require it (GLAM_REQUIRE_SERVICES=1)`)
  }
  process.stderr.write(`\n!!! ${message}: SKIPPING ${options.skipped}. ${options.remedy} !!!\n\n`)
  return false
}

/**
 * Resolves `true` when the server answers. When it does not: throws under `GLAM_REQUIRE_SERVICES=1`,
 * otherwise prints a warning and resolves `false` so the caller can `describe.skipIf(!available)`.
 */
export const serviceAvailable = async (service: keyof typeof services): Promise<boolean> => {
  const { host, name, port } = services[service]
  if (await canConnect(host, port)) return true
  return unavailable(`${name} is not reachable on ${host}:${port}`, {
    skipped: "its integration tests",
    remedy: "Start it, or run bash .ci/run."
  })
}
