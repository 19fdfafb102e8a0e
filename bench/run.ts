/**
 * `npm run bench`: runs every benchmark of the project, each in its own process (so one cannot warm up or
 * slow down another), one after the other. Each prints its figures and writes `bench/results/<name>.json`.
 */
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import * as Path from "node:path"

const benchmarks = ["bus-publish.ts", "bus-consume.ts", "sql.ts", "http.ts"]

let failed = 0
for (const file of benchmarks) {
  const path = Path.join(import.meta.dirname, file)
  if (!existsSync(path)) {
    console.log(`(skipping ${file}: not present)`)
    continue
  }
  console.log(`\n=== ${file} ===`)
  const result = spawnSync(process.execPath, ["--import", "tsx", path], { stdio: "inherit", env: process.env })
  if (result.status !== 0) {
    failed++
    console.error(`${file} failed (exit ${result.status ?? result.signal})`)
  }
}
process.exit(failed === 0 ? 0 : 1)
