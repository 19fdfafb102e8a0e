/**
 * The package as a service author gets it: `npm pack` (which builds), then the README's "Use it in a service"
 * section run as written in a new directory: its files, its install line with the tarball in place of
 * `@glam/shared`, its compile and run commands. Slow (a build, an install from the npm cache, a compile and a
 * PGlite start), so it has its own generous timeouts.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as Net from "node:net"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const root = Path.resolve(import.meta.dirname, "..")
const minutes = (n: number) => n * 60_000

interface Block {
  readonly lang: string
  readonly title: string
  readonly body: string
}

/** The fenced blocks of the README's "Use it in a service" section, each with its `title="..."`. */
const readmeBlocks = (): ReadonlyArray<Block> => {
  const readme = readFileSync(Path.join(root, "README.md"), "utf8")
  const start = readme.indexOf("\n## Use it in a service\n")
  const end = readme.indexOf("\n## ", start + 1)
  const section = readme.slice(start, end === -1 ? undefined : end)
  return Array.from(
    section.matchAll(/^```(\w+) title="([^"]+)"\n([\s\S]*?)^```$/gm),
    ([, lang, title, body]) => ({ lang: lang!, title: title!, body: body! })
  )
}

/** The commands of a shell block: `\` joins lines, `#` starts a comment; words split on spaces (none is quoted). */
const commandsOf = (block: Block): ReadonlyArray<ReadonlyArray<string>> =>
  block.body
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.replace(/(^|\s)#.*$/, "").trim())
    .filter((line) => line.length > 0)
    .map((line) => line.split(/\s+/))

/**
 * The environment of a command run in the service: none of npm's `npm_*` variables (under `npm test` they point npm
 * at this repository) and none of the configuration a developer's shell may carry (APP_ENV, the service's prefix).
 */
const serviceEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(name) || name === "INIT_CWD" || name === "APP_ENV" || name === "GLAM_SERVICE") continue
    if (name.startsWith("HELLO_")) continue
    env[name] = value
  }
  return { ...env, ...extra }
}

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const run = async (command: ReadonlyArray<string>, cwd: string, timeout: number): Promise<Run> => {
  const [file, ...args] = command
  try {
    const { stderr, stdout } = await promisify(execFile)(file!, args, {
      cwd,
      env: serviceEnv(),
      timeout,
      maxBuffer: 64 * 1024 * 1024
    })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failed = error as { readonly code?: number; readonly stdout?: string; readonly stderr?: string }
    return {
      code: typeof failed.code === "number" ? failed.code : -1,
      stdout: failed.stdout ?? "",
      stderr: failed.stderr ?? String(error)
    }
  }
}

const expectSuccess = (result: Run, what: string) => {
  if (result.code !== 0) throw new Error(`${what} exited with ${result.code}\n${result.stdout}\n${result.stderr}`)
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address() as Net.AddressInfo
      server.close(() => resolve(address.port))
    })
  })

/** Every installed copy of every package under `node_modules`, nested ones included, by name. */
const installedCopies = (dir: string): Map<string, Array<string>> => {
  const copies = new Map<string, Array<string>>()
  const visit = (modules: string) => {
    if (!existsSync(modules)) return
    for (const entry of readdirSync(modules)) {
      if (entry.startsWith(".")) continue
      const path = Path.join(modules, entry)
      if (entry.startsWith("@")) {
        for (const scoped of readdirSync(path)) visitPackage(Path.join(path, scoped))
      } else {
        visitPackage(path)
      }
    }
  }
  const visitPackage = (path: string) => {
    const manifest = Path.join(path, "package.json")
    if (existsSync(manifest)) {
      const { name, version } = JSON.parse(readFileSync(manifest, "utf8")) as { name: string; version: string }
      copies.set(name, [...(copies.get(name) ?? []), `${version} at ${Path.relative(dir, path)}`])
    }
    visit(Path.join(path, "node_modules"))
  }
  visit(Path.join(dir, "node_modules"))
  return copies
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const exited = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode })
    } else {
      child.once("exit", (code, signal) => resolve({ code, signal }))
    }
  })

describe("the packed package in a new service", () => {
  const work = mkdtempSync(Path.join(tmpdir(), "glam-package-"))
  const service = Path.join(work, "hello-service")
  const blocks = readmeBlocks()
  const block = (title: string) => {
    const found = blocks.find((b) => b.title === title)
    if (found === undefined) throw new Error(`README "Use it in a service" has no block titled ${title}`)
    return found
  }
  let tarball: string
  let packed: ReadonlyArray<string>
  let installOutput = ""
  let child: ChildProcess | undefined

  beforeAll(async () => {
    // `npm pack` runs `prepack`: a clean build into dist/.
    const result = await run(["npm", "pack", "--json", "--pack-destination", work], root, minutes(10))
    expectSuccess(result, "npm pack")
    const [info] = JSON.parse(result.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>
    tarball = Path.join(work, info!.filename)
    packed = info!.files.map((file) => file.path)
  }, minutes(10))

  afterAll(async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL")
      await exited(child)
    }
    rmSync(work, { recursive: true, force: true })
  })

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
    const [file, ...args] = commandsOf(block("run")).at(-1)!
    const port = await freePort()
    let output = ""
    const started = spawn(file!, args, {
      cwd: service,
      env: serviceEnv({ HELLO_HTTP__PORT: String(port) }),
      stdio: ["ignore", "pipe", "pipe"]
    })
    child = started
    started.stdout!.on("data", (chunk: Buffer) => output += chunk.toString())
    started.stderr!.on("data", (chunk: Buffer) => output += chunk.toString())
    const exit = exited(started)

    const base = `http://127.0.0.1:${port}`
    const deadline = Date.now() + minutes(4)
    let health: Response | undefined
    while (health?.status !== 200) {
      if (started.exitCode !== null || started.signalCode !== null) {
        throw new Error(`the service exited before answering /api/v1/health:\n${output}`)
      }
      if (Date.now() > deadline) throw new Error(`no 200 from /api/v1/health in time:\n${output}`)
      health = await fetch(`${base}/api/v1/health`).catch(() => undefined)
      if (health?.status !== 200) await delay(250)
    }
    expect(await health.json()).toMatchObject({ data: { status: "healthy", service: "hello-service" } })
    const hello = await fetch(`${base}/api/v1/hello`)
    expect(hello.status).toBe(200)
    expect(await hello.json()).toMatchObject({ data: { message: "hello" } })
    expect(output).toContain("PGlite")
    expect(output).toContain("in-memory")
    expect(output).not.toMatch(/ - (WARNING|ERROR|CRITICAL) - /)

    started.kill("SIGTERM")
    const stopped = await Promise.race([
      exit,
      delay(minutes(2)).then(() => undefined)
    ])
    if (stopped === undefined) throw new Error(`the service did not exit after SIGTERM:\n${output}`)
    expect(stopped, output).toEqual({ code: 0, signal: null })
  }, minutes(8))
})
