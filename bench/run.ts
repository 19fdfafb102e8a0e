/**
 * `npm run bench`: builds `src` and `bench` with `tsc` into `.bench-build/` and runs every benchmark there, each in
 * its own process (so one cannot warm up or slow down another), one after the other, on the JavaScript a service
 * runs (the package ships `tsc` output; `tsx`'s transform adds a `__name` call per named closure created, on
 * every call). Each prints its figures and writes `bench/results/<name>.json`. `startup` last, after the compile of
 * the example it starts (`scripts/build-examples.mjs start`, as `npm start` compiles it). Run from its TypeScript
 * (`npx tsx bench/run.ts`), it runs the benchmarks' TypeScript through `tsx` instead.
 */
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import * as Path from "node:path"
import { repoRoot } from "./Harness.js"

const compiled = import.meta.url.endsWith(".js")
const benchmarks = ["bus-publish", "bus-consume", "memory", "outbox-relay", "sql", "http", "http-peers", "startup"]
// `memory` forces a full GC before each reading.
const nodeOptions: Record<string, ReadonlyArray<string>> = { memory: ["--expose-gc"] }

let failed = 0
for (const name of benchmarks) {
  const file = `${name}.${compiled ? "js" : "ts"}`
  const path = Path.join(import.meta.dirname, file)
  if (!existsSync(path)) {
    console.log(`(skipping ${file}: not present)`)
    continue
  }
  console.log(`\n=== ${file} ===`)
  if (name === "startup") {
    // The compiled example `startup` times, built as `npm start`'s `prestart` builds it.
    const built = spawnSync(process.execPath, [Path.join(repoRoot, "scripts", "build-examples.mjs"), "start"], {
      cwd: repoRoot,
      stdio: "inherit"
    })
    if (built.status !== 0) {
      failed++
      console.error(`the example's build failed (exit ${built.status ?? built.signal})`)
      continue
    }
  }
  const flags = nodeOptions[name] ?? []
  const result = spawnSync(process.execPath, compiled ? [...flags, path] : [...flags, "--import", "tsx", path], {
    stdio: "inherit",
    env: process.env
  })
  if (result.status !== 0) {
    failed++
    console.error(`${file} failed (exit ${result.status ?? result.signal})`)
  }
}
process.exit(failed === 0 ? 0 : 1)
