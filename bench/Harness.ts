/**
 * The benchmark harness: runs a toolkit variant and its raw baseline in the same process, alternating which goes
 * first, for several rounds; prints the median throughput and spread of each and the ratio toolkit / baseline (the
 * median of the per-round ratios, with quartiles); writes `bench/results/<name>.json`.
 *
 * A case measures one round with `run(ops)`, which must perform `ops` operations and resolve when they are done.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

export interface Variant {
  /** Performs `ops` operations; the harness times it. */
  readonly run: (ops: number) => Promise<void>
}

export interface Case {
  readonly name: string
  readonly toolkit: Variant
  readonly baseline: Variant
  /** Operations per round. */
  readonly ops: number
  /** The ratio toolkit / baseline this case aims for. */
  readonly target: number
  /**
   * Floors, by name: the baseline plus only some work the case requires of any implementation (decoding, say),
   * done the cheapest way and with no toolkit machinery. Measured in the same rounds; a floor's ratio to the
   * baseline is the most an implementation that does that work can reach on this machine.
   */
  readonly floors?: Readonly<Record<string, Floor>> | undefined
}

export interface Floor {
  readonly description: string
  readonly variant: Variant
}

export interface FloorResult {
  readonly description: string
  readonly stats: Stats
  /** Median of the per-round ratios floor / baseline, with quartiles. */
  readonly ratio: number
  readonly ratio_p25: number
  readonly ratio_p75: number
  /**
   * Median of the per-round ratios of the floor's CPU time per operation to the toolkit's, with quartiles: for the
   * floor `other build`, that build's CPU per operation against this one's in the same rounds.
   */
  readonly cpu_to_toolkit: number
  readonly cpu_to_toolkit_p25: number
  readonly cpu_to_toolkit_p75: number
  readonly rounds: ReadonlyArray<number>
  /** CPU time per operation of every round, µs. */
  readonly cpu_us_per_op_rounds: ReadonlyArray<number>
}

export interface Stats {
  readonly median_ops_per_s: number
  /** Median CPU time of this process per operation (user + system, µs): the client's own work, not the servers'. */
  readonly median_cpu_us_per_op?: number | undefined
  readonly min_ops_per_s: number
  readonly max_ops_per_s: number
  /** (max - min) / median. */
  readonly spread: number
}

export interface CaseResult {
  readonly ops_per_round: number
  readonly toolkit: Stats
  readonly baseline: Stats
  /** Median of the per-round ratios toolkit / baseline (see {@link pairedRatio}). */
  readonly ratio: number
  readonly ratio_p25: number
  readonly ratio_p75: number
  /** Median toolkit ops/s over median baseline ops/s, for comparison with earlier figures. */
  readonly ratio_of_medians: number
  /** Ops/s of every round, in order. */
  readonly rounds: { readonly toolkit: ReadonlyArray<number>; readonly baseline: ReadonlyArray<number> }
  /** CPU time per operation of every round, µs. */
  readonly cpu_us_per_op_rounds: { readonly toolkit: ReadonlyArray<number>; readonly baseline: ReadonlyArray<number> }
  readonly target: number
  readonly meets_target: boolean
  /** Each floor's figures and its paired ratio to the baseline. */
  readonly floors: Readonly<Record<string, FloorResult>>
}

export const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export const stats = (samples: ReadonlyArray<number>, cpu?: ReadonlyArray<number>): Stats => {
  const m = median(samples)
  const min = Math.min(...samples)
  const max = Math.max(...samples)
  return {
    median_ops_per_s: Math.round(m),
    ...(cpu === undefined || cpu.length === 0 ? {} : { median_cpu_us_per_op: Number(median(cpu).toFixed(1)) }),
    min_ops_per_s: Math.round(min),
    max_ops_per_s: Math.round(max),
    spread: Number(((max - min) / m).toFixed(3))
  }
}

export interface PairedRatio {
  readonly median: number
  readonly p25: number
  readonly p75: number
}

/**
 * The ratio toolkit / baseline of each round (both measured back to back), summarised by median and quartiles.
 * On a shared machine throughput drifts by tens of percent between rounds; a round's two measurements see the same
 * conditions, so their ratio cancels the drift that a ratio of two separate medians would keep.
 */
export const pairedRatio = (toolkit: ReadonlyArray<number>, baseline: ReadonlyArray<number>): PairedRatio => {
  const ratios = toolkit.map((t, i) => t / baseline[i]!).sort((a, b) => a - b)
  const at = (q: number) => Number(ratios[Math.min(ratios.length - 1, Math.floor(q * ratios.length))]!.toFixed(3))
  return { median: Number(median(ratios).toFixed(3)), p25: at(0.25), p75: at(0.75) }
}

const floorResult = (
  description: string,
  floor: ReadonlyArray<number>,
  baseline: ReadonlyArray<number>,
  cpu: ReadonlyArray<number>,
  toolkitCpu: ReadonlyArray<number>
): FloorResult => {
  const paired = pairedRatio(floor, baseline)
  const cpuPaired = pairedRatio(cpu, toolkitCpu)
  return {
    description,
    stats: stats(floor, cpu),
    ratio: paired.median,
    ratio_p25: paired.p25,
    ratio_p75: paired.p75,
    cpu_to_toolkit: cpuPaired.median,
    cpu_to_toolkit_p25: cpuPaired.p25,
    cpu_to_toolkit_p75: cpuPaired.p75,
    rounds: floor.map(Math.round),
    cpu_us_per_op_rounds: cpu.map((x) => Number(x.toFixed(2)))
  }
}

interface Sample {
  readonly opsPerS: number
  readonly cpuUsPerOp: number
}

const measure = async (variant: Variant, ops: number): Promise<Sample> => {
  const cpu = process.cpuUsage()
  const start = performance.now()
  await variant.run(ops)
  const elapsed = performance.now() - start
  const used = process.cpuUsage(cpu)
  return { opsPerS: ops / (elapsed / 1000), cpuUsPerOp: (used.user + used.system) / ops }
}

/** `met` or `NOT met`, for a figure beside its target. */
export const verdict = (met: boolean): string => met ? "met" : "NOT met"

/**
 * Warm-up: full rounds of every variant, unmeasured, until none of them is still getting faster (the JIT has
 * settled): at least `min` rounds, then until no variant's last two rounds beat its best earlier round by more than
 * 5 %, at most `max` rounds. Returns the rounds run and whether they settled.
 */
const warmUp = async (
  variants: ReadonlyArray<readonly [string, Variant]>,
  ops: number,
  min: number,
  max: number
): Promise<{
  readonly rounds: number
  readonly rising: ReadonlyArray<string>
  readonly figures: Record<string, Array<number>>
}> => {
  const figures: Record<string, Array<number>> = Object.fromEntries(variants.map(([label]) => [label, []]))
  // The variants whose last two rounds beat their best earlier round by more than 5 %.
  const rising = () =>
    Object.keys(figures).filter((label) => {
      const xs = figures[label]!
      if (xs.length < 3) return true
      const before = Math.max(...xs.slice(0, -2))
      return Math.max(...xs.slice(-2)) > before * 1.05
    })
  let rounds = 0
  while (rounds < max && (rounds < min || rising().length > 0)) {
    for (const [label, variant] of variants) figures[label]!.push(Math.round((await measure(variant, ops)).opsPerS))
    rounds++
  }
  return { rounds, rising: rounds >= max ? rising() : [], figures }
}

export const machine = () => ({
  cpus: Os.cpus().length,
  model: Os.cpus()[0]?.model ?? "unknown",
  memory_gib: Math.round(Os.totalmem() / 2 ** 30),
  node: process.version,
  platform: `${Os.platform()} ${Os.release()}`
})

/**
 * Runs every case (unmeasured warm-up rounds of every variant first, until their figures stop rising: at least
 * `BENCH_WARMUP_ROUNDS`, default 2, at most `BENCH_WARMUP_MAX`, default 12; then `rounds`, default `BENCH_ROUNDS` or
 * 15, rotating which variant goes first), prints and writes the results.
 */
export const run = async (
  name: string,
  cases: ReadonlyArray<Case>,
  options: { readonly rounds?: number; readonly meta?: Record<string, unknown> } = {}
): Promise<Record<string, CaseResult>> => {
  // 15 rounds: the median of 7 paired ratios moved by ±0.05 between runs of the same code on this shared machine.
  const rounds = options.rounds ?? Number(process.env.BENCH_ROUNDS ?? 15)
  const warmups = Number(process.env.BENCH_WARMUP_ROUNDS ?? 2)
  const warmupMax = Math.max(warmups, Number(process.env.BENCH_WARMUP_MAX ?? 12))
  const warmupsRun: Record<
    string,
    {
      readonly rounds: number
      readonly settled: boolean
      readonly rising: ReadonlyArray<string>
      readonly figures: Record<string, Array<number>>
    }
  > = {}
  const results: Record<string, CaseResult> = {}
  console.log(
    `${name}: ${rounds} paired rounds per case; load average ${Os.loadavg().map((x) => x.toFixed(2)).join(" ")}`
  )
  for (const c of cases) {
    // Warm-up: full rounds, unmeasured, until the figures stop rising. The toolkit has more code for the JIT to
    // optimise than the raw client; a fixed short warm-up left it getting faster through the measured rounds.
    const floors = Object.entries(c.floors ?? {})
    const variants: Array<readonly [string, Variant]> = [
      ["toolkit", c.toolkit],
      ["baseline", c.baseline],
      ...floors.map(([name, floor]) => [`floor ${name}`, floor.variant] as const)
    ]
    const warm = await warmUp(variants, c.ops, warmups, warmupMax)
    const settled = warm.rising.length === 0
    warmupsRun[c.name] = { rounds: warm.rounds, settled, rising: warm.rising, figures: warm.figures }
    // Each variant still rising is named with its figures; the toolkit's are printed either way.
    const shown = settled ? ["toolkit"] : [...new Set(["toolkit", ...warm.rising])]
    console.log(
      `${name}/${c.name}: warm-up ${warm.rounds} rounds (${
        settled ? "figures settled" : `still rising after BENCH_WARMUP_MAX=${warmupMax}: ${warm.rising.join(", ")}`
      }; ${shown.map((label) => `${label} ${warm.figures[label]!.join(", ")}`).join("; ")} ops/s)`
    )
    const samples: Record<string, Array<number>> = Object.fromEntries(variants.map(([label]) => [label, []]))
    const cpu: Record<string, Array<number>> = Object.fromEntries(variants.map(([label]) => [label, []]))
    for (let round = 0; round < rounds; round++) {
      // Rotate which variant goes first, so that drift within a round hits each equally over the run.
      for (let k = 0; k < variants.length; k++) {
        const [label, variant] = variants[(k + round) % variants.length]!
        const sample = await measure(variant, c.ops)
        samples[label]!.push(sample.opsPerS)
        cpu[label]!.push(sample.cpuUsPerOp)
      }
    }
    const toolkit = samples.toolkit!
    const baseline = samples.baseline!
    const t = stats(toolkit, cpu.toolkit)
    const b = stats(baseline, cpu.baseline)
    const paired = pairedRatio(toolkit, baseline)
    const ratio = paired.median
    results[c.name] = {
      ops_per_round: c.ops,
      toolkit: t,
      baseline: b,
      ratio,
      ratio_p25: paired.p25,
      ratio_p75: paired.p75,
      ratio_of_medians: Number((t.median_ops_per_s / b.median_ops_per_s).toFixed(3)),
      rounds: { toolkit: toolkit.map(Math.round), baseline: baseline.map(Math.round) },
      cpu_us_per_op_rounds: {
        toolkit: cpu.toolkit!.map((x) => Number(x.toFixed(2))),
        baseline: cpu.baseline!.map((x) => Number(x.toFixed(2)))
      },
      target: c.target,
      meets_target: ratio >= c.target,
      floors: Object.fromEntries(
        floors.map((
          [name, floor]
        ) => [
          name,
          floorResult(floor.description, samples[`floor ${name}`]!, baseline, cpu[`floor ${name}`]!, cpu.toolkit!)
        ])
      )
    }
    console.log(
      `${name}/${c.name}: toolkit ${t.median_ops_per_s} ops/s, ${t.median_cpu_us_per_op} µs CPU/op (spread ${t.spread}); ` +
        `baseline ${b.median_ops_per_s} ops/s, ${b.median_cpu_us_per_op} µs CPU/op (spread ${b.spread})\n` +
        `${name}/${c.name}:   RATIO ${ratio} (p25-p75 ${paired.p25}-${paired.p75}), target >= ${c.target}: ${
          verdict(ratio >= c.target)
        }`
    )
    for (const [floorName, floor] of Object.entries(results[c.name]!.floors)) {
      console.log(
        `${name}/${c.name}:   floor "${floorName}" (${floor.description}): ${floor.stats.median_ops_per_s} ops/s, ` +
          `${floor.stats.median_cpu_us_per_op} µs CPU/op, ratio ${floor.ratio} ` +
          `(p25-p75 ${floor.ratio_p25}-${floor.ratio_p75}); CPU/op to the toolkit's ${floor.cpu_to_toolkit} ` +
          `(p25-p75 ${floor.cpu_to_toolkit_p25}-${floor.cpu_to_toolkit_p75})`
      )
    }
  }
  const out = Path.join(resultsDir, `${name}.json`)
  mkdirSync(Path.dirname(out), { recursive: true })
  writeFileSync(
    out,
    JSON.stringify(
      {
        benchmark: name,
        rounds,
        warmup_rounds: warmupsRun,
        machine: machine(),
        load_average: Os.loadavg().map((x) => Number(x.toFixed(2))),
        date: new Date().toISOString(),
        ...options.meta,
        results
      },
      null,
      2
    ) + "\n"
  )
  console.log(`wrote ${out}`)
  return results
}

/** Runs `task` `ops` times with at most `window` in flight. */
export const pipelined = async (ops: number, window: number, task: (i: number) => Promise<unknown>): Promise<void> => {
  let next = 0
  const worker = async () => {
    while (next < ops) {
      const i = next++
      await task(i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(window, ops) }, worker))
}

/**
 * `bench/results`, whether the benchmarks run from their TypeScript (`npx tsx bench/<name>.ts`) or compiled into
 * `.bench-build/` (`npm run bench`).
 */
export const resultsDir = Path.resolve(
  import.meta.dirname,
  Path.basename(Path.dirname(import.meta.dirname)) === ".bench-build" ? "../../bench/results" : "results"
)

/** The repository's root, from the TypeScript or from `.bench-build/` alike. */
export const repoRoot = Path.resolve(resultsDir, "..", "..")

/** Writes a benchmark's report to `bench/results/<name>.json` and returns the path. */
export const writeResults = (name: string, report: unknown): string => {
  const out = Path.join(resultsDir, `${name}.json`)
  mkdirSync(Path.dirname(out), { recursive: true })
  writeFileSync(out, JSON.stringify(report, null, 2) + "\n")
  return out
}

/** Whether this module is the process entry point. */
export const isMain = (url: string): boolean => url === `file://${process.argv[1]}`

/**
 * Runs a benchmark's `main` when its file is the process entry point (`npx tsx bench/<name>.ts`), exiting 1 on
 * failure; `bench/run.ts` imports the same files without starting them.
 */
export const runIfMain = (url: string, main: () => Promise<void>): void => {
  if (!isMain(url)) return
  main().catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
