/**
 * `tls://` servers: TLS is required, never a plain connection that sends the credentials in clear; a private CA
 * through `NODE_EXTRA_CA_CERTS`, on a test-owned nats-server that requires TLS with certificates made by openssl.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Option, Redacted } from "effect"
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { JetStream } from "../src/Bus/index.js"
import { childEnv } from "./support/childEnv.js"
import { startNatsServerWith } from "./support/natsServer.js"
import { toolAvailable, toolPath } from "./support/tools.js"

const tlsToolsFound = toolAvailable("nats-server") && toolAvailable("openssl")

const connecting = (servers: ReadonlyArray<string>) =>
  JetStream.connection({
    servers,
    user: Option.some("orders"),
    password: Option.some(Redacted.make("s3cret-password")),
    token: Option.none(),
    serviceName: "bus-tls-test",
    connectTimeout: Duration.seconds(5)
  })

describe("Bus over tls:// servers", () => {
  it.live("a server that does not offer TLS is refused before the credentials are sent", () =>
    Effect.gen(function*() {
      // A server that speaks NATS without TLS and keeps what the client sends.
      let received = ""
      const sockets = new Set<net.Socket>()
      const server = yield* Effect.acquireRelease(
        Effect.async<net.Server>((resume) => {
          const server = net.createServer((socket) => {
            sockets.add(socket)
            socket.on("data", (chunk) => {
              received += chunk.toString()
            })
            socket.on("error", () => {})
            const info = { server_id: "plain", version: "2.9.10", proto: 1, headers: true, max_payload: 1048576 }
            socket.write(`INFO ${JSON.stringify(info)}\r\n`)
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) =>
          Effect.async<void>((resume) => {
            server.close(() => resume(Effect.void))
            for (const socket of sockets) socket.destroy()
          })
      )
      const port = (server.address() as net.AddressInfo).port
      const error = yield* Effect.flip(Effect.scoped(connecting([`tls://127.0.0.1:${port}`])))
      expect(error._tag).toBe("MessageBusError")
      expect(error.message).toBe(
        `Cannot connect to NATS at tls://127.0.0.1:${port}: the server does not offer TLS, which tls:// in ` +
          "nats.servers requires (credentials not sent)"
      )
      expect(received).not.toContain("CONNECT")
      expect(received).not.toContain("s3cret-password")
    }).pipe(Effect.scoped))

  it.live("a list mixing tls:// with other servers is refused, naming the server", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.scoped(connecting(["tls://127.0.0.1:1", "nats://127.0.0.1:2", "tls://127.0.0.1:3"]))
      )
      expect(error._tag).toBe("MessageBusError")
      expect(error.message).toBe(
        "Invalid NATS servers: nats.servers[1] is not a tls:// URL where others are: the client connects to every " +
          "server the same way; write each as tls:// to require TLS"
      )
      expect(error.retryable).toBe(false)
    }))
})

describe.skipIf(!tlsToolsFound)("Bus over tls:// on a test-owned nats-server that requires TLS", () => {
  it.live("connects with the server's private CA given in NODE_EXTRA_CA_CERTS", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "glam-bus-tls-"))),
        (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
      )
      const file = (name: string) => path.join(dir, name)
      const openssl = (...args: ReadonlyArray<string>) => execFileSync(toolPath("openssl"), args, { stdio: "ignore" })
      const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
      openssl(
        "req",
        "-x509",
        ...key,
        "-keyout",
        file("ca.key"),
        "-out",
        file("ca.pem"),
        "-days",
        "2",
        "-subj",
        "/CN=glam test CA"
      )
      openssl("req", ...key, "-keyout", file("server.key"), "-out", file("server.csr"), "-subj", "/CN=localhost")
      fs.writeFileSync(file("san.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
      openssl(
        "x509",
        "-req",
        "-in",
        file("server.csr"),
        "-CA",
        file("ca.pem"),
        "-CAkey",
        file("ca.key"),
        "-CAcreateserial",
        "-out",
        file("server.pem"),
        "-days",
        "2",
        "-extfile",
        file("san.cnf")
      )
      const nats = yield* Effect.acquireRelease(
        Effect.promise(() =>
          startNatsServerWith(["--tls", "--tlscert", file("server.pem"), "--tlskey", file("server.key")], {
            storePrefix: "glam-bus-tls-nats-"
          })
        ),
        (nats) => Effect.promise(nats.dispose)
      )
      const run = (env: Record<string, string>) =>
        Effect.async<string>((resume) => {
          const child = spawn(
            process.execPath,
            [
              "--import",
              "tsx",
              path.join(import.meta.dirname, "fixtures", "bus", "tlsConnect.ts"),
              `tls://localhost:${nats.port}`
            ],
            { env: childEnv(env), stdio: "pipe" }
          )
          let out = ""
          child.stdout.on("data", (chunk: Buffer) => {
            out += chunk.toString()
          })
          child.on("close", () => resume(Effect.succeed(out.trim())))
          return Effect.sync(() => child.kill("SIGKILL"))
        })
      // By name: the NATS client checks a server given by IP address against the name "localhost".
      const trusted = JSON.parse(yield* run({ NODE_EXTRA_CA_CERTS: file("ca.pem") }))
      expect(trusted).toMatchObject({ connected: true, tlsRequired: true, server: `localhost:${nats.port}` })
      // Without the CA, the certificate is not trusted: no connection.
      const untrusted = JSON.parse(yield* run({}))
      expect(untrusted.connected).toBe(false)
      expect(untrusted.error).toContain(`tls://localhost:${nats.port}: unable to verify the first certificate`)
    }).pipe(Effect.scoped))
})
