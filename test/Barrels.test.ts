/**
 * The package's one barrel convention, as a user meets it: every `@glam/shared/<Module>` exports its namesake face
 * flat and every other public module as a namespace, `@glam/shared` exports each module as a namespace, nothing is
 * reachable two ways, every module is an entry point of package.json, and no module imports another's `index.ts`.
 */
import { readdirSync, readFileSync } from "node:fs"
import * as Path from "node:path"
import { describe, expect, it } from "vitest"

const root = Path.resolve(import.meta.dirname, "..")
const src = Path.join(root, "src")

const modules = readdirSync(src, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && readdirSync(Path.join(src, entry.name)).includes("index.ts"))
  .map((entry) => entry.name)
  .sort()

/** The statements of a file without its comments. */
const statements = (file: string): ReadonlyArray<string> =>
  readFileSync(file, "utf8")
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/^\s*\/\/.*$/gm, "")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "")

const sourceFiles = (dir: string): ReadonlyArray<string> =>
  readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
    .map((entry) => Path.join(entry.parentPath, entry.name))

/** Every value reachable from a module barrel: `[path, value]`, flat exports and one level into namespaces. */
const reachable = (barrel: Record<string, unknown>, namespaces: ReadonlySet<string>) =>
  Object.entries(barrel).flatMap(([name, value]): Array<readonly [string, unknown]> =>
    namespaces.has(name)
      ? Object.entries(value as Record<string, unknown>).map(([member, v]) => [`${name}.${member}`, v] as const)
      : [[name, value] as const]
  )

describe("barrels", () => {
  it("finds the modules", () => {
    expect(modules).toEqual(expect.arrayContaining(["Bus", "Config", "Errors", "Events", "Http", "Sql", "Telemetry"]))
  })

  it.each(modules)("%s/index.ts: the namesake face flat, every other public module a namespace", (module) => {
    const lines = statements(Path.join(src, module, "index.ts"))
    const flat = lines.filter((line) => line.startsWith("export * from"))
    expect(flat).toEqual([`export * from "./${module}.js"`])
    for (const line of lines.filter((l) => !flat.includes(l))) {
      expect(line).toMatch(/^export \* as ([A-Z]\w*) from "\.\/(?:catalogue\/)?\1\.js"$/)
    }
  })

  it("src/index.ts: one namespace per module, plus GlamLive, makeGlamLive and StartupError", async () => {
    const lines = statements(Path.join(src, "index.ts"))
    const namespaces = lines.filter((line) => line.startsWith("export * as"))
    expect(namespaces).toEqual(
      expect.arrayContaining(modules.map((module) => `export * as ${module} from "./${module}/index.js"`))
    )
    expect(namespaces).toHaveLength(modules.length)
    const barrel = await import("../src/index.js")
    expect(Object.keys(barrel).sort()).toEqual([...modules, "GlamLive", "StartupError", "makeGlamLive"].sort())
  })

  it.each(modules)("@glam/shared/%s: no value is reachable two ways", async (module) => {
    const all = (await import("../src/index.js")) as unknown as Record<string, Record<string, unknown> | undefined>
    const barrel = all[module]
    if (barrel === undefined) throw new Error(`@glam/shared has no ${module}`)
    const namespaces = new Set(
      statements(Path.join(src, module, "index.ts")).flatMap((line) => /^export \* as (\w+)/.exec(line)?.[1] ?? [])
    )
    const seen = new Map<unknown, string>()
    const twice: Array<string> = []
    for (const [path, value] of reachable(barrel, namespaces)) {
      // Primitives (names, numbers) may coincide; functions, classes, tags and schemas may not.
      if ((typeof value !== "object" && typeof value !== "function") || value === null) continue
      const first = seen.get(value)
      if (first !== undefined) twice.push(`${first} and ${path}`)
      else seen.set(value, path)
    }
    expect(twice).toEqual([])
  })

  it("every module is an entry point of package.json", () => {
    const pkg = JSON.parse(readFileSync(Path.join(root, "package.json"), "utf8")) as {
      readonly exports: Record<string, { readonly default: string }>
    }
    for (const module of modules) {
      expect(pkg.exports[`./${module}`]?.default).toBe(`./dist/${module}/index.js`)
    }
  })

  it("no file in src imports a module's index.ts (src/index.ts aside)", () => {
    const offenders = sourceFiles(src)
      .filter((file) => file !== Path.join(src, "index.ts"))
      .flatMap((file) =>
        [...readFileSync(file, "utf8").matchAll(/from "(\.[^"]*\/index\.js)"/g)].map((m) =>
          `${Path.relative(root, file)} imports ${m[1]}`
        )
      )
    expect(offenders).toEqual([])
  })
})
