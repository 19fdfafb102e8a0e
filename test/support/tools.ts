/**
 * The programs the suites run, found on PATH or through a variable, never at one machine's path.
 *
 * `GLAM_NATS_SERVER`, `GLAM_MOSQUITTO`, `GLAM_REDIS_SERVER`, `GLAM_PYTHON` and `GLAM_OPENSSL` name a program (a
 * path, or a name looked up on PATH); `GLAM_PG_BIN` names the directory of the PostgreSQL server programs, which
 * Debian keeps off PATH (`.ci/run` sets it).
 * A variable that is set is the only place looked at, so a wrong one is reported instead of silently replaced.
 * A missing program skips the tests that run it with a loud warning, or fails them under
 * `GLAM_REQUIRE_SERVICES=1`, as a missing server does (see `services.ts`).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { unavailable } from "./services.js"

const program = (variable: string) => ({ variable, holds: "program" }) as const
const inDirectory = (variable: string) => ({ variable, holds: "directory" }) as const

/** Each program the suites run, and the variable that overrides where it is found. */
export const tools = {
  "nats-server": program("GLAM_NATS_SERVER"),
  mosquitto: program("GLAM_MOSQUITTO"),
  "redis-server": program("GLAM_REDIS_SERVER"),
  python3: program("GLAM_PYTHON"),
  openssl: program("GLAM_OPENSSL"),
  initdb: inDirectory("GLAM_PG_BIN"),
  postgres: inDirectory("GLAM_PG_BIN"),
  pg_ctl: inDirectory("GLAM_PG_BIN")
} as const

export type ToolName = keyof typeof tools

/** Where a program was found, or why it was not. */
export type ToolLookup =
  | { readonly _tag: "Found"; readonly path: string }
  | { readonly _tag: "Missing"; readonly reason: string }

const isExecutableFile = (file: string): boolean => {
  try {
    fs.accessSync(file, fs.constants.X_OK)
    return fs.statSync(file).isFile()
  } catch {
    return false
  }
}

const onPath = (name: string, env: NodeJS.ProcessEnv): string | undefined =>
  (env.PATH ?? "").split(path.delimiter).filter((dir) => dir.length > 0).map((dir) => path.resolve(dir, name))
    .find(isExecutableFile)

/** The file a set variable names: a directory's entry, a path, or a name looked up on PATH. */
const fromVariable = (name: ToolName, value: string, env: NodeJS.ProcessEnv): string | undefined => {
  if (tools[name].holds === "directory") return path.resolve(value, name)
  return value.includes(path.sep) ? path.resolve(value) : onPath(value, env)
}

/** Finds a program from `env` (`process.env` by default) without side effects. */
export const findTool = (name: ToolName, env: NodeJS.ProcessEnv = process.env): ToolLookup => {
  const { holds, variable } = tools[name]
  const value = env[variable]
  if (value !== undefined && value.length > 0) {
    const file = fromVariable(name, value, env)
    if (file !== undefined && isExecutableFile(file)) return { _tag: "Found", path: file }
    const reason = holds === "directory"
      ? `${name} in ${variable}=${value} is not an executable file`
      : `${variable}=${value} is not ${value.includes(path.sep) ? "an executable file" : "on PATH"}`
    return { _tag: "Missing", reason }
  }
  const found = onPath(name, env)
  if (found !== undefined) return { _tag: "Found", path: found }
  const hint = holds === "directory" ? "the directory that holds it" : "its path"
  return { _tag: "Missing", reason: `${name} is not on PATH (or set ${variable} to ${hint})` }
}

/**
 * `true` when the program is found. When it is not: throws under `GLAM_REQUIRE_SERVICES=1`, otherwise prints a
 * loud warning and returns `false` so the caller can `describe.skipIf(!available)`.
 */
export const toolAvailable = (name: ToolName, env: NodeJS.ProcessEnv = process.env): boolean => {
  const lookup = findTool(name, env)
  return lookup._tag === "Found" || unavailable(lookup.reason, {
    skipped: `the tests that run ${name}`,
    remedy: "Install it, or run bash .ci/run.",
    env
  })
}

/** The program's path, for a test that `toolAvailable` let run; throws the reason when it is missing. */
export const toolPath = (name: ToolName, env: NodeJS.ProcessEnv = process.env): string => {
  const lookup = findTool(name, env)
  if (lookup._tag === "Missing") throw new Error(lookup.reason)
  return lookup.path
}
