/**
 * Global setup of `npm run test:reliability`: bundles the worker programs once (so that each process a scenario
 * starts loads one file instead of transforming the sources, which costs seconds per start on a loaded machine),
 * empties the results file, and at the end prints the table of every scenario's line.
 */
import { build } from "esbuild"
import * as fs from "node:fs"
import * as path from "node:path"
import { resultsFile } from "./support/report.js"
import { workersBuild, workersSource } from "./support/worker.js"

const table = () => {
  const rows = fs.existsSync(resultsFile)
    ? fs.readFileSync(resultsFile, "utf8").split("\n").filter((l) => l.length > 0).map((l) =>
      JSON.parse(l) as { readonly line: string }
    )
    : []
  const rule = "-".repeat(100)
  return [
    "",
    rule,
    `reliability suite: ${rows.length} scenario line(s)`,
    rule,
    ...rows.map((row) => row.line),
    rule,
    ""
  ]
    .join("\n")
}

export default async function setup() {
  fs.rmSync(resultsFile, { force: true })
  fs.rmSync(workersBuild, { recursive: true, force: true })
  const entryPoints = fs.readdirSync(workersSource).filter((f) => f.endsWith(".ts") && f !== "common.ts")
    .map((f) => path.join(workersSource, f))
  await build({
    entryPoints,
    outdir: workersBuild,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    logLevel: "warning"
  })
  return () => {
    fs.rmSync(workersBuild, { recursive: true, force: true })
    process.stdout.write(table())
  }
}
