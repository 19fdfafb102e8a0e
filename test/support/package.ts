/**
 * Helpers of the slow tests that use the package as a service author gets it (test/Package.test.ts,
 * test/GeneratorService.test.ts): `npm pack`, commands run in a service's directory, the README's blocks, and a
 * service started to its health answer and stopped with SIGTERM.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import * as Path from "node:path"
import { promisify } from "node:util"

export const root = Path.resolve(import.meta.dirname, "..", "..")
export const minutes = (n: number) => n * 60_000

export interface Block {
  readonly lang: string
  readonly title: string
  readonly body: string
}

/** The fenced blocks of the README's "Use it in a service" section, each with its `title="..."`. */
export const readmeBlocks = (): ReadonlyArray<Block> => {
  const readme = readFileSync(Path.join(root, "README.md"), "utf8")
  const start = readme.indexOf("\n## Use it in a service\n")
  const end = readme.indexOf("\n## ", start + 1)
  const section = readme.slice(start, end === -1 ? undefined : end)
  return Array.from(
    section.matchAll(/^```(\w+) title="([^"]+)"\n([\s\S]*?)^```$/gm),
    ([, lang, title, body]) => ({ lang: lang!, title: title!, body: body! })
  )
}

/** The block of the README's "Use it in a service" section with that title. */
export const readmeBlock = (title: string): Block => {
  const found = readmeBlocks().find((b) => b.title === title)
  if (found === undefined) throw new Error(`README "Use it in a service" has no block titled ${title}`)
  return found
}

/** The commands of a shell block: `\` joins lines, `#` starts a comment; words split on spaces (none is quoted). */
export const commandsOf = (block: Block): ReadonlyArray<ReadonlyArray<string>> =>
  block.body
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.replace(/(^|\s)#.*$/, "").trim())
    .filter((line) => line.length > 0)
    .map((line) => line.split(/\s+/))

/** The variable prefixes of the services these tests create (hello-service, order-service). */
const servicePrefixes = ["HELLO_", "ORDER_"]

/**
 * The environment of a command run in the service: none of npm's `npm_*` variables (under `npm test` they point npm
 * at this repository) and none of the configuration a developer's shell may carry (APP_ENV, the services' prefixes).
 */
export const serviceEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(name) || name === "INIT_CWD" || name === "APP_ENV" || name === "GLAM_SERVICE") continue
    if (servicePrefixes.some((prefix) => name.startsWith(prefix))) continue
    env[name] = value
  }
  return { ...env, ...extra }
}

export interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

export const run = async (command: ReadonlyArray<string>, cwd: string, timeout: number): Promise<Run> => {
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

export const expectSuccess = (result: Run, what: string) => {
  if (result.code !== 0) throw new Error(`${what} exited with ${result.code}\n${result.stdout}\n${result.stderr}`)
}

/** `npm pack` of the repository into `destination` (it runs `prepack`: a clean build into dist/). */
export const pack = async (
  destination: string
): Promise<{ readonly tarball: string; readonly files: ReadonlyArray<string> }> => {
  const result = await run(["npm", "pack", "--json", "--pack-destination", destination], root, minutes(10))
  expectSuccess(result, "npm pack")
  const [info] = JSON.parse(result.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>
  return { tarball: Path.join(destination, info!.filename), files: info!.files.map((file) => file.path) }
}

/** Every installed copy of every package under `node_modules`, nested ones included, by name. */
export const installedCopies = (dir: string): Map<string, Array<string>> => {
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

export const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export const exited = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode })
    } else {
      child.once("exit", (code, signal) => resolve({ code, signal }))
    }
  })

/** A service process, its output so far, and its exit. */
export interface Started {
  readonly child: ChildProcess
  readonly output: () => string
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Starts a service's command and waits for a 200 from `<base>/api/v1/health`, failing with its output. */
export const startToHealth = async (
  command: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly env: NodeJS.ProcessEnv; readonly base: string }
): Promise<Started & { readonly health: Response }> => {
  const [file, ...args] = command
  let output = ""
  const child = spawn(file!, args, { cwd: options.cwd, env: options.env, stdio: ["ignore", "pipe", "pipe"] })
  child.stdout!.on("data", (chunk: Buffer) => output += chunk.toString())
  child.stderr!.on("data", (chunk: Buffer) => output += chunk.toString())
  const started = { child, output: () => output, exit: exited(child) }
  const deadline = Date.now() + minutes(4)
  let health: Response | undefined
  while (health?.status !== 200) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the service exited before answering /api/v1/health:\n${output}`)
    }
    if (Date.now() > deadline) {
      await killIfRunning(child)
      throw new Error(`no 200 from /api/v1/health in time:\n${output}`)
    }
    health = await fetch(`${options.base}/api/v1/health`).catch(() => undefined)
    if (health?.status !== 200) await delay(250)
  }
  return { ...started, health }
}

/** SIGTERM, then its exit (`undefined` when it has not exited within two minutes). */
export const stopWithSigterm = (started: Started) => {
  started.child.kill("SIGTERM")
  return Promise.race([started.exit, delay(minutes(2)).then(() => undefined)])
}

/** Kills a service still running (after a failed test). */
export const killIfRunning = async (child: ChildProcess | undefined) => {
  if (child !== undefined && child.exitCode === null && child.signalCode === null) {
    child.kill("SIGKILL")
    await exited(child)
  }
}
