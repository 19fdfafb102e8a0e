/**
 * Lists the functions of src/ longer than a limit (`npx tsx scripts/long-functions.ts [limit]`, default 60 lines),
 * longest first: `lines  file:line  name`. A function's lines run from its first to its last line, nested functions
 * included; a function nested in a listed one is listed too when it is itself over the limit. Exit status 0.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const limit = Number(process.argv[2] ?? 60)

const sourceFiles = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(full)
    return entry.name.endsWith(".ts") ? [full] : []
  })

/** The name a reader would look for: the function's own, or the variable, property or method it is assigned to. */
const nameOf = (node: ts.Node): string => {
  if ((ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node)) && node.name !== undefined) {
    return node.name.getText()
  }
  let parent: ts.Node = node.parent
  while (ts.isCallExpression(parent) || ts.isParenthesizedExpression(parent) || ts.isAsExpression(parent)) {
    parent = parent.parent
  }
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) {
    return parent.name.getText()
  }
  return "(anonymous)"
}

interface Long {
  readonly lines: number
  readonly where: string
  readonly name: string
}

const longFunctions = (file: string): Array<Long> => {
  const text = fs.readFileSync(file, "utf8")
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true)
  const found: Array<Long> = []
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && "body" in node && node.body !== undefined) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line
      const lines = last - first + 1
      if (lines > limit) {
        found.push({ lines, where: `${path.relative(root, file)}:${first + 1}`, name: nameOf(node) })
      }
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

const all = sourceFiles(path.join(root, "src")).flatMap(longFunctions).sort((a, b) => b.lines - a.lines)
for (const f of all) console.log(`${String(f.lines).padStart(5)}  ${f.where}  ${f.name}`)
console.log(`${all.length} functions over ${limit} lines in src/`)
