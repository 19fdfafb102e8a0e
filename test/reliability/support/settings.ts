/**
 * The sizes and durations of the scenarios, each overridable by a variable so that a longer run (or a quicker one
 * while developing) needs no edit. The defaults keep the whole suite near ten minutes on a loaded 2-core machine.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const number = (name: string, fallback: number): number => {
  const value = process.env[name]
  if (value === undefined || value === "") return fallback
  const parsed = Number(value)
  if (!Number.isFinite(parsed) || parsed < 0) throw new Error(`${name}=${value} is not a non-negative number`)
  return parsed
}

export const settings = {
  /** Events of the broker-crash burst. */
  brokerBurst: number("GLAM_RELIABILITY_BROKER_BURST", 20_000),
  /** How long the broker stays down in the outage case (seconds). */
  outageSeconds: number("GLAM_RELIABILITY_OUTAGE_SECONDS", 40),
  /** Events of the cluster scenario. */
  clusterBurst: number("GLAM_RELIABILITY_CLUSTER_BURST", 5_000),
  /**
   * Events of the consumer-crash, database-restart, relay-crash, shutdown and durable-deleted scenarios; 50 times as
   * many inbox records in the migration-interrupted one.
   */
  events: number("GLAM_RELIABILITY_EVENTS", 2_000),
  /** Good events of the poison scenario. */
  poisonGood: number("GLAM_RELIABILITY_POISON_GOOD", 1_000)
} as const

/** A directory for the logs of one scenario's processes, kept after the run (its path is in failure messages). */
export const logDir = (scenario: string): string =>
  fs.mkdtempSync(path.join(os.tmpdir(), `glam-reliability-${scenario}-`))

/** A whole number in `[from, to)`, for the random points at which a scenario strikes. */
export const randomBetween = (from: number, to: number): number => from + Math.floor(Math.random() * (to - from))
