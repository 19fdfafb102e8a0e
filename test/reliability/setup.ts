/**
 * Global setup of `npm run test:reliability`: bundles the worker programs once (so that each process a scenario
 * starts loads one file instead of transforming the sources, which costs seconds per start on a loaded machine),
 * empties the results file, and at the end prints the table of every scenario's line, headed by the nats-server the
 * scenarios ran (`GLAM_NATS_SERVER` or PATH: CI runs the NATS scenarios on 2.9 and on 2.10, and the tables of the two
 * runs differ by that header).
 */
import { build } from "esbuild"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { findTool } from "../support/tools.js"
import { resultsFile } from "./support/report.js"
import { workersBuild, workersSource } from "./support/worker.js"

/**
 * `nats-server 2.10.27`, the version of the program the scenarios start; `no nats-server` when none is found, its path
 * when its version cannot be read.
 */
const natsServer = (): string => {
  const lookup = findTool("nats-server")
  if (lookup._tag === "Missing") return "no nats-server"
  const run = spawnSync(lookup.path, ["--version"], { encoding: "utf8", timeout: 30_000 })
  const version = /v(\d+(?:\.\d+)+)/.exec(`${run.stdout ?? ""}${run.stderr ?? ""}`)?.[1]
  return version === undefined ? `${lookup.path} (version unknown)` : `nats-server ${version}`
}

const table = (server: string) => {
  const rows = fs.existsSync(resultsFile)
    ? fs.readFileSync(resultsFile, "utf8").split("\n").filter((l) => l.length > 0).map((l) =>
      JSON.parse(l) as { readonly line: string }
    )
    : []
  const rule = "-".repeat(100)
  return [
    "",
    rule,
    `reliability suite on ${server}: ${rows.length} scenario line(s)`,
    rule,
    ...rows.map((row) => row.line),
    rule,
    ""
  ]
    .join("\n")
}

export default async function setup() {
  const server = natsServer()
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
    process.stdout.write(table(server))
  }
}
