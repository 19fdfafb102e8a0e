/**
 * A service written by `glam new`, built and run as its author would: the compiled bin writes it, the packed
 * package (`npm pack`) is installed into it with the peers of its generated package.json, then its type-check,
 * its own test, its build, and its start on the embedded defaults to a health answer, then SIGTERM and a clean
 * exit. Slow (a build, an install from the npm cache, the service's own test suite), like test/Package.test.ts,
 * so it has its own generous timeouts.
 */
import type { ChildProcess } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { stripVTControlCharacters } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Dockerfile from "./support/dockerfile.js"
import { freePort } from "./support/localService.js"
import {
  expectSuccess,
  installedCopies,
  killIfRunning,
  minutes,
  pack,
  root,
  run,
  serviceEnv,
  startToHealth,
  stopWithSigterm
} from "./support/package.js"

describe("a service written by glam new, on the packed package", () => {
  const work = mkdtempSync(Path.join(tmpdir(), "glam-generated-"))
  const service = Path.join(work, "order-service")
  let tarball: string
  let child: ChildProcess | undefined

  beforeAll(async () => {
    tarball = (await pack(work)).tarball
  }, minutes(10))

  afterAll(async () => {
    await killIfRunning(child)
    rmSync(work, { recursive: true, force: true })
  }, minutes(5)) // removing an installed node_modules is slow on a loaded machine

  it("is written by the compiled bin", async () => {
    const result = await run(
      ["node", Path.join(root, "dist", "bin", "glam.js"), "new", "order-service", "--port", "8005"],
      work,
      minutes(2)
    )
    expectSuccess(result, "glam new")
    expect(existsSync(Path.join(service, "src", "main.ts"))).toBe(true)
  }, minutes(3))

  it("installs the packed package with the peers of its package.json: one copy of each", async () => {
    const result = await run(
      ["npm", "install", tarball, "--no-audit", "--no-fund", "--prefer-offline"],
      service,
      minutes(10)
    )
    expectSuccess(result, "npm install")
    expect(result.stdout + result.stderr).not.toMatch(/EBADENGINE|ERESOLVE/)
    const copies = installedCopies(service)
    expect(copies.get("@glam/shared")).toHaveLength(1)
    const shared = [...copies].filter(([name]) => name === "effect" || name.startsWith("@opentelemetry/"))
    expect(shared.filter(([, found]) => found.length !== 1)).toEqual([])
    const ls = await run(["npm", "ls", "--all", "--json"], service, minutes(2))
    expect((JSON.parse(ls.stdout) as { problems?: Array<string> }).problems ?? []).toEqual([])
  }, minutes(12))

  it("type-checks, passes its own test on the embedded defaults, and builds", async () => {
    expectSuccess(await run(["npm", "run", "typecheck"], service, minutes(5)), "npm run typecheck")
    const test = await run(["npm", "test"], service, minutes(8))
    expectSuccess(test, "npm test")
    expect(stripVTControlCharacters(test.stdout)).toMatch(/Tests\s+5 passed/)
    expectSuccess(await run(["npm", "run", "build"], service, minutes(5)), "npm run build")
    expect(existsSync(Path.join(service, "dist", "main.js"))).toBe(true)
  }, minutes(20))

  it("starts on the embedded defaults, serves its API and health, and exits 0 on SIGTERM", async () => {
    const port = await freePort()
    const base = `http://127.0.0.1:${port}`
    // The image's command: node as PID 1, no npm in between.
    const started = await startToHealth(["node", "dist/main.js"], {
      cwd: service,
      env: serviceEnv({ ORDER_HTTP__PORT: String(port) }),
      base
    })
    child = started.child
    expect(await started.health.json()).toMatchObject({ data: { status: "healthy", service: "order-service" } })
    const created = await fetch(`${base}/api/v1/items`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "first" })
    })
    expect(created.status).toBe(201)
    const list = await fetch(`${base}/api/v1/items`)
    expect(await list.json()).toMatchObject({ data: [{ name: "first" }], pagination: { total: 1 } })
    expect((await fetch(`${base}/openapi.json`)).status).toBe(200)
    expect(started.output()).toContain("PGlite")
    expect(started.output()).toContain("in-memory")

    // The outbox relay publishes the committed event and the subscriber handles it (an event the in-memory bus holds
    // when the process stops is gone with it, so the test waits for the handler before stopping).
    const deadline = Date.now() + 60_000
    while (!/item [0-9a-f-]{36} created: first/.test(started.output()) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const stopped = await stopWithSigterm(started)
    if (stopped === undefined) throw new Error(`the service did not exit after SIGTERM:\n${started.output()}`)
    expect(stopped, started.output()).toEqual({ code: 0, signal: null })
    expect(started.output()).toMatch(/item [0-9a-f-]{36} created: first/)
  }, minutes(8))

  it("has a Dockerfile whose every COPY finds what the install and the build produced", () => {
    const text = readFileSync(Path.join(service, "Dockerfile"), "utf8")
    const built = (relative: string) => existsSync(Path.join(service, relative))
    expect(Dockerfile.problems(text, { context: service, built })).toEqual([])
  })

  it("carries the generator in the installed package: its bin writes the same service", async () => {
    const again = Path.join(work, "again")
    mkdirSync(again)
    const bin = Path.join(service, "node_modules", ".bin", "glam")
    expectSuccess(await run([bin, "new", "order-service", "--port", "8005"], again, minutes(2)), "installed glam new")
    const files = (dir: string) =>
      readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((entry) =>
          entry.isFile() && !Path.relative(dir, entry.parentPath).split(Path.sep).includes("node_modules")
        )
        .map((entry) => Path.relative(dir, Path.join(entry.parentPath, entry.name)))
        // What the build and the runs above made (dist, the lock, the embedded database's files) is not written.
        .filter((path) => !path.startsWith("dist") && !path.startsWith(".glam") && path !== "package-lock.json")
        .sort()
    expect(files(Path.join(again, "order-service"))).toEqual(files(service))
  }, minutes(3))
})
