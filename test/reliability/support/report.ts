/**
 * The one line each scenario prints, `reliability <name>: sent N, stored N, handled N, lost 0, duplicates 0, ...`,
 * also appended to the suite's results file so that the suite can end with a table of every line.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** Where the lines of a run are collected (one JSON object a line); the suite's global setup empties it. */
export const resultsFile = path.join(fileURLToPath(new URL("../../../", import.meta.url)), ".reliability-results.jsonl")

/** The counts every scenario reports, then its own figures in order. */
export interface Figures {
  readonly sent: number
  readonly stored: number
  readonly handled: number
  readonly lost: number
  readonly duplicates: number
  readonly [figure: string]: number | string
}

/** `reliability <name>: sent N, stored N, ...` */
export const line = (name: string, figures: Figures): string =>
  `reliability ${name}: ${Object.entries(figures).map(([k, v]) => `${k} ${v}`).join(", ")}`

/** Prints the scenario's line and records it for the table. */
export const report = (name: string, figures: Figures): string => {
  const text = line(name, figures)
  process.stdout.write(`${text}\n`)
  fs.appendFileSync(resultsFile, JSON.stringify({ name, figures, line: text, at: new Date().toISOString() }) + "\n")
  return text
}
