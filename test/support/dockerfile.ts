/**
 * Static checks of a Dockerfile (no container engine runs here): what the container images of the toolkit must
 * be, as a list of problems (empty when it is right).
 */
import { existsSync, readFileSync } from "node:fs"
import * as Path from "node:path"

export interface Instruction {
  readonly keyword: string
  readonly args: string
  readonly stage: number
}

/** The instructions: continuation lines joined, comments dropped, each with the index of its stage. */
export const parse = (text: string): ReadonlyArray<Instruction> => {
  const lines = text.replace(/\\\r?\n/g, " ").split(/\r?\n/).map((line) => line.trim())
  let stage = -1
  return lines.filter((line) => line.length > 0 && !line.startsWith("#")).map((line) => {
    const [keyword, ...rest] = line.split(/\s+/)
    if (keyword!.toUpperCase() === "FROM") stage++
    return { keyword: keyword!.toUpperCase(), args: rest.join(" "), stage }
  })
}

const execForm = (args: string): ReadonlyArray<string> | undefined => {
  try {
    const parsed: unknown = JSON.parse(args)
    return Array.isArray(parsed) && parsed.every((word) => typeof word === "string") ? parsed : undefined
  } catch {
    return undefined
  }
}

const secretName = /pass|pwd|secret|token|key|credential|private|auth|cert|salt|dsn|cookie|session/i

/** Image references: `name:version` with digits in the version; stage names (an earlier `AS x`) are refs too. */
const fromProblems = (instructions: ReadonlyArray<Instruction>): Array<string> => {
  const froms = instructions.filter((i) => i.keyword === "FROM")
  const stages = new Set<string>()
  const problems: Array<string> = []
  if (froms.length < 2) problems.push("not multi-stage: one FROM")
  for (const from of froms) {
    const [image, as, name] = from.args.split(/\s+/)
    if (!stages.has(image!) && !/^[\w./-]+:\d+(\.\d+){1,2}[\w.-]*$/.test(image!)) {
      problems.push(`FROM ${image} is not pinned to a version (name:1.2.3)`)
    }
    if (as?.toUpperCase() === "AS" && name !== undefined) stages.add(name)
  }
  return problems
}

/** The final stage: npm ci --omit=dev, a non-root USER, exec-form `node` CMD, a HEALTHCHECK on /api/v1/health. */
const finalStageProblems = (instructions: ReadonlyArray<Instruction>): Array<string> => {
  const last = Math.max(...instructions.map((i) => i.stage))
  const final = instructions.filter((i) => i.stage === last)
  const problems: Array<string> = []
  if (!final.some((i) => i.keyword === "RUN" && /\bnpm ci\b[^&|;]*--omit=dev/.test(i.args))) {
    problems.push("the final stage does not install with npm ci --omit=dev")
  }
  const user = final.filter((i) => i.keyword === "USER").at(-1)
  if (user === undefined || /^(root|0)(:|$)/.test(user.args)) problems.push("the final stage runs as root")
  const cmd = final.filter((i) => i.keyword === "CMD").at(-1)
  const words = cmd === undefined ? undefined : execForm(cmd.args)
  if (words === undefined || words[0] !== "node" || words.some((w) => /\bnpm\b/.test(w))) {
    problems.push(`CMD is not the exec form ["node", ...]: ${cmd?.args}`)
  }
  if (final.some((i) => i.keyword === "ENTRYPOINT")) problems.push("an ENTRYPOINT stands between the runtime and node")
  const healthcheck = final.find((i) => i.keyword === "HEALTHCHECK")
  if (healthcheck === undefined || !healthcheck.args.includes("/api/v1/health")) {
    problems.push("no HEALTHCHECK on /api/v1/health")
  } else if (/\bcurl\b|\bwget\b/.test(healthcheck.args)) {
    problems.push("the HEALTHCHECK needs a program the slim image lacks (curl, wget)")
  }
  return problems
}

const ignored = (context: string): ReadonlyArray<string> => {
  const file = Path.join(context, ".dockerignore")
  if (!existsSync(file)) return []
  return readFileSync(file, "utf8").split(/\r?\n/).map((line) => line.trim().replace(/\/$/, "")).filter((line) =>
    line.length > 0 && !line.startsWith("#")
  )
}

/** Where the sources of an image are: its build context, and what its build stage produces (path relative to the stage's WORKDIR). */
export interface Sources {
  readonly context: string
  readonly built: (relative: string) => boolean
}

/**
 * Every COPY source exists: a source of the build context (and not excluded by its .dockerignore); a
 * `--from=<stage>` source, relative to that stage's WORKDIR, among what the build produces.
 */
const copyProblems = (instructions: ReadonlyArray<Instruction>, { built, context }: Sources): Array<string> => {
  const workdirs = new Map<number, string>()
  const names = new Map<string, number>()
  const problems: Array<string> = []
  const excluded = ignored(context)
  for (const instruction of instructions) {
    if (instruction.keyword === "FROM") {
      const [, as, name] = instruction.args.split(/\s+/)
      if (as?.toUpperCase() === "AS" && name !== undefined) names.set(name, instruction.stage)
    }
    if (instruction.keyword === "WORKDIR") workdirs.set(instruction.stage, instruction.args)
    if (instruction.keyword !== "COPY") continue
    const words = instruction.args.split(/\s+/)
    const from = words.find((w) => w.startsWith("--from="))?.slice("--from=".length)
    const sources = words.filter((w) => !w.startsWith("--")).slice(0, -1)
    for (const source of sources) {
      if (from === undefined) {
        if (!existsSync(Path.join(context, source))) problems.push(`COPY ${source}: not in the build context`)
        if (excluded.includes(source.replace(/^\.\//, "").replace(/\/$/, ""))) {
          problems.push(`COPY ${source}: excluded by .dockerignore`)
        }
      } else {
        const workdir = workdirs.get(names.get(from) ?? -1) ?? "/"
        const relative = Path.posix.relative(workdir, Path.posix.resolve(workdir, source))
        if (relative.startsWith("..") || !built(relative)) {
          problems.push(`COPY --from=${from} ${source}: not produced by the build (${relative})`)
        }
      }
    }
  }
  return problems
}

/** Every problem of a Dockerfile: the rules above, and no ENV or ARG with a secret-looking name. */
export const problems = (text: string, sources: Sources): Array<string> => {
  const instructions = parse(text)
  const secrets = instructions
    .filter((i) => i.keyword === "ENV" || i.keyword === "ARG")
    .flatMap((i) => i.args.split(/\s+/).map((word) => word.split("=")[0]!))
    .filter((name) => secretName.test(name))
    .map((name) => `a secret-looking variable is baked in: ${name}`)
  return [
    ...fromProblems(instructions),
    ...finalStageProblems(instructions),
    ...copyProblems(instructions, sources),
    ...secrets
  ]
}
