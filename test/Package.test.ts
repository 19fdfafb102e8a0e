/**
 * The package as a service author gets it: `npm pack` (which builds), then the README's "Use it in a service"
 * section run as written in a new directory: its files, its install line with the tarball in place of
 * `@glam/shared`, its compile and run commands. Slow (a build, an install from the npm cache, a compile and a
 * PGlite start), so it has its own generous timeouts.
 */
import { type ChildProcess } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { freePort } from "./support/localService.js"
import {
  commandsOf,
  expectSuccess,
  installedCopies,
  killIfRunning,
  minutes,
  pack,
  readmeBlock,
  root,
  run,
  serviceEnv,
  startToHealth,
  stopWithSigterm
} from "./support/package.js"

describe("the packed package in a new service", () => {
  const work = mkdtempSync(Path.join(tmpdir(), "glam-package-"))
  const service = Path.join(work, "hello-service")
  const block = readmeBlock
  let tarball: string
  let packed: ReadonlyArray<string>
  let installOutput = ""
  let child: ChildProcess | undefined

  beforeAll(async () => {
    const packed_ = await pack(work)
    tarball = packed_.tarball
    packed = packed_.files
  }, minutes(10))

  afterAll(async () => {
    await killIfRunning(child)
    rmSync(work, { recursive: true, force: true })
  }, minutes(5)) // removing an installed node_modules is slow on a loaded machine

  it("holds the build with its sources, README, LICENSE, the docs the README links to and the service template", () => {
    const readme = readFileSync(Path.join(root, "README.md"), "utf8")
    const linkedDocs = new Set(Array.from(readme.matchAll(/\]\((docs\/[^)#]+)/g), ([, path]) => path!))
    expect(linkedDocs.size).toBeGreaterThan(0)
    for (const doc of linkedDocs) expect(packed).toContain(doc)
    expect(packed).toEqual(expect.arrayContaining([
      "package.json",
      "README.md",
      "LICENSE",
      "dist/index.js",
      "dist/index.d.ts",
      "dist/index.js.map",
      "dist/index.d.ts.map",
      "dist/bin/glam-migrate.js",
      "dist/bin/glam.js",
      "src/index.ts",
      "templates/service/src/main.ts",
      "templates/service/Dockerfile"
    ]))
    const unexpected = packed.filter((path) =>
      !["package.json", "README.md", "LICENSE"].includes(path) &&
      !/^dist\/.+\.(js|js\.map|d\.ts|d\.ts\.map)$/.test(path) &&
      !/^src\/.+\.ts$/.test(path) &&
      !/^templates\/service\/[^.]/.test(path) &&
      !linkedDocs.has(path)
    )
    expect(unexpected).toEqual([])
    // Every compiled module has its source next to it, which its source map points at.
    const modules = packed.filter((path) => path.startsWith("dist/") && path.endsWith(".js"))
    expect(
      modules.map((path) => path.replace(/^dist\//, "src/").replace(/\.js$/, ".ts")).filter((src) =>
        !packed.includes(src)
      )
    ).toEqual([])
    expect(readFileSync(Path.join(root, "LICENSE"), "utf8")).toMatch(/^MIT License/)
  })

  it(
    "installs with the README's line: one copy of each OpenTelemetry package and of effect, no engine warning",
    async () => {
      mkdirSync(service, { recursive: true })
      writeFileSync(Path.join(service, "package.json"), block("package.json").body)
      const installs = commandsOf(block("install"))
      expect(installs.length).toBeGreaterThan(0)
      for (const command of installs) {
        expect(command.slice(0, 2)).toEqual(["npm", "install"])
        const withTarball = command.map((word) => word === "@glam/shared" ? tarball : word)
        const result = await run(
          [...withTarball, "--no-audit", "--no-fund", "--prefer-offline"],
          service,
          minutes(10)
        )
        expectSuccess(result, command.join(" "))
        installOutput += result.stdout + result.stderr
      }
      expect(installs[0]).toContain("@glam/shared")

      const copies = installedCopies(service)
      expect(copies.get("@glam/shared")).toHaveLength(1)
      const shared = [...copies].filter(([name]) => name === "effect" || name.startsWith("@opentelemetry/"))
      expect(shared.length).toBeGreaterThan(10)
      expect(shared.filter(([, found]) => found.length !== 1)).toEqual([])
      // Every peer the package declares is installed once, at a version its range accepts (npm ls reports otherwise).
      const ls = await run(["npm", "ls", "--all", "--json"], service, minutes(2))
      const problems = (JSON.parse(ls.stdout) as { problems?: Array<string> }).problems ?? []
      expect(problems).toEqual([])
      expect(installOutput).not.toMatch(/EBADENGINE|ERESOLVE/)
    },
    minutes(15)
  )

  it("type-checks and compiles with the README's strict NodeNext tsconfig", async () => {
    expect(existsSync(Path.join(service, "node_modules", "@glam", "shared"))).toBe(true)
    for (const title of ["tsconfig.json", "src/main.ts", "config/services/hello-service.yml"]) {
      const path = Path.join(service, title)
      mkdirSync(Path.dirname(path), { recursive: true })
      writeFileSync(path, block(title).body)
    }
    const commands = commandsOf(block("run"))
    expect(commands.length).toBeGreaterThan(1)
    for (const command of commands.slice(0, -1)) {
      expectSuccess(await run(command, service, minutes(5)), command.join(" "))
    }
    expect(existsSync(Path.join(service, "dist", "main.js"))).toBe(true)
  }, minutes(6))

  it("runs on embedded defaults, answers /api/v1/health, and exits cleanly on SIGTERM", async () => {
    expect(existsSync(Path.join(service, "dist", "main.js"))).toBe(true)
    const port = await freePort()
    const base = `http://127.0.0.1:${port}`
    const started = await startToHealth(commandsOf(block("run")).at(-1)!, {
      cwd: service,
      env: serviceEnv({ HELLO_HTTP__PORT: String(port) }),
      base
    })
    child = started.child
    const { health } = started
    expect(await health.json()).toMatchObject({ data: { status: "healthy", service: "hello-service" } })
    const hello = await fetch(`${base}/api/v1/hello`)
    expect(hello.status).toBe(200)
    expect(await hello.json()).toMatchObject({ data: { message: "hello" } })
    const output = started.output()
    expect(output).toContain("PGlite")
    expect(output).toContain("in-memory")
    expect(output).not.toMatch(/ - (WARNING|ERROR|CRITICAL) - /)

    const stopped = await stopWithSigterm(started)
    if (stopped === undefined) throw new Error(`the service did not exit after SIGTERM:\n${started.output()}`)
    expect(stopped, started.output()).toEqual({ code: 0, signal: null })
  }, minutes(8))
})
