/**
 * Type-checks every TypeScript example a user reads (`npm run docs:check`): the ```ts blocks of README.md and
 * docs/*.md, and the `@example` blocks of the JSDoc in src/. Each block is compiled as a module of its own, strict,
 * against the package's public entry points as a service imports them (`@glam/shared`, `@glam/shared/<Module>`,
 * resolved to src/). A block must stand alone: what it uses but does not define, it declares (`declare const router:
 * HttpRouter.HttpRouter`). Problems are reported at their line in the source file; the exit status is 1 if any.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const outDir = path.join(root, ".docs-check")

interface Block {
  /** The source file, relative to the repository. */
  readonly source: string
  /** The line of the source file where the block's first line is (1-based). */
  readonly line: number
  readonly code: string
}

const fence = /^(\s*)```(\w*)\s*$/

/** The ```ts blocks of a Markdown text; `prefix` strips a comment's leading ` * ` first. */
const blocksOf = (source: string, lines: ReadonlyArray<string>, strip: (line: string) => string): Array<Block> => {
  const blocks: Array<Block> = []
  let open: { readonly line: number; readonly code: Array<string>; readonly ts: boolean } | undefined
  lines.forEach((raw, i) => {
    const line = strip(raw)
    const match = fence.exec(line)
    if (open === undefined) {
      if (match !== null && match[2] !== "") {
        open = { line: i + 2, code: [], ts: match[2] === "ts" || match[2] === "typescript" }
      }
      return
    }
    if (match !== null && match[2] === "") {
      if (open.ts) blocks.push({ source, line: open.line, code: open.code.join("\n") })
      open = undefined
      return
    }
    open.code.push(line)
  })
  return blocks
}

const markdownBlocks = (file: string): Array<Block> =>
  blocksOf(path.relative(root, file), fs.readFileSync(file, "utf8").split("\n"), (line) => line)

/** The `@example` blocks of a source file's JSDoc. */
const jsdocBlocks = (file: string): Array<Block> => {
  const lines = fs.readFileSync(file, "utf8").split("\n")
  const commentLine = /^\s*\* ?/
  // Only the lines of comments: everything else becomes empty, so that line numbers stay.
  const inComments = lines.map((line) => (commentLine.test(line) ? line.replace(commentLine, "") : ""))
  return blocksOf(path.relative(root, file), inComments, (line) => line)
}

const walk = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    return entry.isDirectory() ? walk(full) : [full]
  })

const blocks: Array<Block> = [
  ...markdownBlocks(path.join(root, "README.md")),
  ...fs.readdirSync(path.join(root, "docs")).filter((f) => f.endsWith(".md")).flatMap((f) =>
    markdownBlocks(path.join(root, "docs", f))
  ),
  ...walk(path.join(root, "src")).filter((f) => f.endsWith(".ts")).flatMap(jsdocBlocks)
]

fs.rmSync(outDir, { recursive: true, force: true })
fs.mkdirSync(outDir, { recursive: true })
const files = new Map<string, Block>()
blocks.forEach((block, i) => {
  const name = path.join(outDir, `${String(i).padStart(3, "0")}-${block.source.replace(/[/.]/g, "_")}.ts`)
  // A module of its own even without imports, so blocks never share declarations.
  fs.writeFileSync(name, `${block.code}\nexport {}\n`)
  files.set(name, block)
})

const base = ts.getParsedCommandLineOfConfigFile(path.join(root, "tsconfig.json"), {}, {
  ...ts.sys,
  onUnRecoverableConfigFileDiagnostic: (d) => {
    throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"))
  }
})!
const options: ts.CompilerOptions = {
  ...base.options,
  noEmit: true,
  // An example shows a use; it need not use everything it names.
  noUnusedLocals: false,
  noUnusedParameters: false,
  baseUrl: root,
  paths: {
    "@glam/shared": ["./src/index.ts"],
    "@glam/shared/*": ["./src/*/index.ts"]
  },
  allowImportingTsExtensions: true
}
const program = ts.createProgram([...files.keys()], options)
const problems = ts.getPreEmitDiagnostics(program).filter((d) => d.file !== undefined && files.has(d.file.fileName))
for (const d of problems) {
  const block = files.get(d.file!.fileName)!
  const { character, line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0)
  const message = ts.flattenDiagnosticMessageText(d.messageText, "\n  ")
  console.error(`${block.source}:${block.line + line}:${character + 1}: ${message}`)
}
const failing = new Set(problems.map((d) => files.get(d.file!.fileName)))
console.log(`docs:check: ${blocks.length} examples, ${blocks.length - failing.size} compile, ${failing.size} do not`)
process.exitCode = failing.size === 0 ? 0 : 1
