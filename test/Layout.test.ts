/**
 * The layering inside a module: public files are faces over `internal/`, so an internal file never imports a value
 * from a public file of its own module (a type is fine: the public file states the types). And between modules
 * (a module is a first directory of src): their imports point one way, in the order of `dependencyOrder`.
 */
import { readdirSync, readFileSync } from "node:fs"
import * as Path from "node:path"
import ts from "typescript"
import { describe, expect, it } from "vitest"

const src = Path.resolve(import.meta.dirname, "..", "src")

/** Every file of src. */
const sourceFiles = readdirSync(src, { withFileTypes: true, recursive: true })
  .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
  .map((entry) => Path.join(entry.parentPath, entry.name))

const internalFiles = sourceFiles.filter((file) => file.split(Path.sep).includes("internal"))

/** The module a file of src belongs to (`Sql`, `Bus`...; `.` for the package's own files). */
const moduleOf = (file: string): string => {
  const [first, ...rest] = Path.relative(src, file).split(Path.sep)
  return rest.length === 0 ? "." : first!
}

/** The value imports (not `import type`, not `type` specifiers) of a file: `[specifier, names]`. */
const valueImports = (file: string): ReadonlyArray<readonly [string, ReadonlyArray<string>]> => {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true)
  return source.statements.flatMap((statement) => {
    if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) return []
    const clause = statement.importClause
    if (clause === undefined || clause.isTypeOnly) return []
    const bindings = clause.namedBindings
    const names = [
      ...(clause.name === undefined ? [] : [clause.name.text]),
      ...(bindings !== undefined && ts.isNamespaceImport(bindings) ? [`* as ${bindings.name.text}`] : []),
      ...(bindings !== undefined && ts.isNamedImports(bindings)
        ? bindings.elements.filter((element) => !element.isTypeOnly).map((element) => element.name.text)
        : [])
    ]
    return names.length === 0 ? [] : [[statement.moduleSpecifier.text, names] as const]
  })
}

/**
 * The modules from the ground floor up: a module imports only modules before it (README, "Dependencies"). `internal`
 * (src/internal) is the ground floor's shared code, which every module may use; the files at the root of src
 * (`GlamLive`, the barrel) compose them all, and no module imports them.
 */
const dependencyOrder = ["Errors", "Config", "Telemetry", "Events", "Bus", "Sql", "Cache", "Http", "Devices", "bin"]

/** What src/internal may import: the ground floor. */
const groundFloor = ["Errors", "Config"]

/**
 * Every module specifier of a file that names a file of ours (it starts with `.`): imports and re-exports, of values
 * or types, and `import("...")`.
 */
const specifiersOf = (file: string): ReadonlyArray<string> => {
  const found: Array<string> = []
  const visit = (node: ts.Node): void => {
    const specifier = (ts.isImportDeclaration(node) || ts.isExportDeclaration(node))
      ? node.moduleSpecifier
      : ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword
      ? node.arguments[0]
      : ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)
      ? node.argument.literal
      : undefined
    if (specifier !== undefined && ts.isStringLiteral(specifier) && specifier.text.startsWith(".")) {
      found.push(specifier.text)
    }
    ts.forEachChild(node, visit)
  }
  visit(ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true))
  return found
}

/** The imports from one module to another: `from -> to` with the files that make it. */
const moduleImports: ReadonlyMap<string, ReadonlyArray<string>> = (() => {
  const edges = new Map<string, Array<string>>()
  for (const file of sourceFiles) {
    for (const specifier of specifiersOf(file)) {
      const target = Path.resolve(Path.dirname(file), specifier)
      const [from, to] = [moduleOf(file), moduleOf(target)]
      if (from === to) continue
      const key = `${from} -> ${to}`
      edges.set(key, [...(edges.get(key) ?? []), `${Path.relative(src, file)} imports ${specifier}`])
    }
  }
  return edges
})()

/**
 * The cycles between modules: each as `A -> B` steps back to `A`, with the files of each step. The root of src and
 * src/internal are left out: the root composes the modules, and src/internal is the ground floor's shared code (it
 * and Config use each other's internals), which may import nothing above the ground floor (the test of the order).
 */
const moduleCycles = (): ReadonlyArray<string> => {
  const next = new Map<string, Array<string>>()
  for (const key of moduleImports.keys()) {
    const [from, to] = key.split(" -> ") as [string, string]
    if ([from, to].some((module) => module === "." || module === "internal")) continue
    next.set(from, [...(next.get(from) ?? []), to])
  }
  const cycles = new Set<string>()
  const walk = (path: ReadonlyArray<string>): void => {
    for (const to of next.get(path[path.length - 1]!) ?? []) {
      const start = path.indexOf(to)
      if (start >= 0) {
        // The cycle from its smallest module, so that each is reported once.
        const cycle = path.slice(start)
        const first = cycle.indexOf([...cycle].sort()[0]!)
        const turned = [...cycle.slice(first), ...cycle.slice(0, first)]
        const steps = turned.map((from, i) => {
          const key = `${from} -> ${turned[(i + 1) % turned.length]}`
          return `${key} (${moduleImports.get(key)!.join(", ")})`
        })
        cycles.add(steps.join("; "))
      } else {
        walk([...path, to])
      }
    }
  }
  for (const module of next.keys()) walk([module])
  return [...cycles].sort()
}

describe("layout", () => {
  it("finds the internal files", () => {
    expect(internalFiles.length).toBeGreaterThan(20)
  })

  it("no internal file imports a value from a public file of its own module", () => {
    const offenders = internalFiles.flatMap((file) =>
      valueImports(file).flatMap(([specifier, names]) => {
        if (!specifier.startsWith(".")) return []
        const target = Path.resolve(Path.dirname(file), specifier)
        const isPublic = !target.split(Path.sep).includes("internal")
        return isPublic && moduleOf(target) === moduleOf(file)
          ? [`${Path.relative(src, file)} imports ${names.join(", ")} from ${specifier}`]
          : []
      })
    )
    expect(offenders).toEqual([])
  })

  it("finds the imports between modules", () => {
    expect([...moduleImports.keys()]).toEqual(expect.arrayContaining(["Bus -> Events", "Http -> Errors"]))
  })

  it("the imports between modules form no cycle", () => {
    expect(moduleCycles()).toEqual([])
  })

  it("a module imports only the modules before it in the dependency order, src/internal only the ground floor", () => {
    const modules = new Set(sourceFiles.map(moduleOf))
    expect([...modules].filter((module) => module !== "." && module !== "internal").sort())
      .toEqual([...dependencyOrder].sort())
    const offenders = [...moduleImports].flatMap(([key, files]) => {
      const [from, to] = key.split(" -> ") as [string, string]
      const allowed = from === "."
        ? true
        : from === "internal"
        ? groundFloor.includes(to)
        : to === "internal" || dependencyOrder.indexOf(to) >= 0 &&
            dependencyOrder.indexOf(to) < dependencyOrder.indexOf(from)
      return allowed ? [] : [`${key}: ${files.join(", ")}`]
    })
    expect(offenders).toEqual([])
  })
})
