/**
 * Benchmark `password-argon2` (outside `npm run bench`): the CPU of one `Password.verify` of argon2-cffi's default hash
 * (`$argon2id$v=19$m=65536,t=3,p=4$...`, 64 MiB and 3 passes, pwdlib's default) for this build and for another build
 * (`ARGON2_OTHER_BUILD=/path/.bench-build`, another commit's `.bench-build` compiled with `npx tsc -p
 * tsconfig.bench.json` there and placed inside this checkout, `tmp/` say, so that it resolves this checkout's
 * `node_modules`). The tag is computed on a worker thread: `process.cpuUsage` counts every thread of the process, the
 * worker's included. Each round verifies once with each build, the first of them alternating; the figures are the
 * median CPU time and wall time per verify of each and the median of the paired per-round CPU ratios, with their
 * quartiles. `ARGON2_PASSWORD` and `ARGON2_HASH` measure another hash.
 *
 * Run: `npx tsc -p tsconfig.bench.json && ARGON2_OTHER_BUILD=tmp/base/.bench-build node
 * .bench-build/bench/password-argon2.js`
 */
import { Effect } from "effect"
import * as Os from "node:os"
import * as Path from "node:path"
import { pathToFileURL } from "node:url"
import * as Password from "../src/Http/Password.js"
import * as Harness from "./Harness.js"

const rounds = Number(process.env.BENCH_ROUNDS ?? 11)

// argon2-cffi's documentation's hash of this password under its defaults.
const password = process.env.ARGON2_PASSWORD ?? "correct horse battery staple"
const stored = process.env.ARGON2_HASH ??
  "$argon2id$v=19$m=65536,t=3,p=4$MIIRqgvgQbgj220jfp0MPA$YfwJSVjtjSU0zzV/P3S9nnQ/USre2wvJMjfCIjrTQbg"

type PasswordModule = typeof Password

interface Built {
  readonly name: string
  readonly module: PasswordModule
}

const measure = async (built: Built): Promise<readonly [cpu: number, wall: number]> => {
  const cpu = process.cpuUsage()
  const start = performance.now()
  const ok = await Effect.runPromise(built.module.verify(password, stored))
  const wall = performance.now() - start
  const used = process.cpuUsage(cpu)
  if (!ok) throw new Error(`${built.name}: argon2-cffi's default hash did not verify`)
  return [(used.user + used.system) / 1000, wall]
}

const main = async (): Promise<void> => {
  const otherRoot = process.env.ARGON2_OTHER_BUILD
  if (otherRoot === undefined || otherRoot === "") throw new Error("ARGON2_OTHER_BUILD: the other build's root")
  const other = (await import(
    pathToFileURL(Path.join(Path.resolve(otherRoot), "src/Http/Password.js")).href
  )) as PasswordModule
  const variants: Array<Built> = [{ name: "this", module: Password }, { name: "other", module: other }]
  const cpu = new Map<string, Array<number>>(variants.map((v) => [v.name, []]))
  const wall = new Map<string, Array<number>>(variants.map((v) => [v.name, []]))
  // Warm-up: each build's worker started, its code compiled.
  for (const v of variants) for (let i = 0; i < 2; i++) await measure(v)
  const started = new Date().toISOString()
  const loadBefore = Os.loadavg()[0]!.toFixed(1)
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? variants : [...variants].reverse()
    for (const v of order) {
      const [c, w] = await measure(v)
      cpu.get(v.name)!.push(c)
      wall.get(v.name)!.push(w)
    }
  }
  const mine = cpu.get("this")!
  const theirs = cpu.get("other")!
  const paired = Harness.pairedRatio(mine, theirs)
  console.log(
    `password-argon2 (${
      stored.slice(0, stored.indexOf("$", stored.indexOf("m=")))
    }): ${rounds} rounds, ${started} to ` +
      `${new Date().toISOString()}, ${JSON.stringify(Harness.machine())}, load average ${loadBefore} to ` +
      `${Os.loadavg()[0]!.toFixed(1)}\n` +
      `CPU per verify: this ${Harness.median(mine).toFixed(1)} ms, other ${Harness.median(theirs).toFixed(1)} ms; ` +
      `wall: this ${Harness.median(wall.get("this")!).toFixed(1)} ms, ` +
      `other ${Harness.median(wall.get("other")!).toFixed(1)} ms; ` +
      `this/other ${paired.median} (p25 ${paired.p25}, p75 ${paired.p75})`
  )
}

Harness.runIfMain(import.meta.url, main)
