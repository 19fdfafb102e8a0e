/**
 * The layering inside a module: public files are faces over `internal/`, so an internal file never imports a value
 * from a public file of its own module (a type is fine: the public file states the types).
 */
import { readdirSync, readFileSync } from "node:fs"
import * as Path from "node:path"
import ts from "typescript"
import { describe, expect, it } from "vitest"

const src = Path.resolve(import.meta.dirname, "..", "src")

const internalFiles = readdirSync(src, { withFileTypes: true, recursive: true })
  .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
  .map((entry) => Path.join(entry.parentPath, entry.name))
  .filter((file) => file.split(Path.sep).includes("internal"))

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
})
