/**
 * Global setup of `npm run test:reliability`: empties the results file, and at the end prints the table of every
 * scenario's line.
 */
import * as fs from "node:fs"
import { resultsFile } from "./support/report.js"

export default function setup() {
  fs.rmSync(resultsFile, { force: true })
  return () => {
    const rows = fs.existsSync(resultsFile)
      ? fs.readFileSync(resultsFile, "utf8").split("\n").filter((l) => l.length > 0).map((l) =>
        JSON.parse(l) as { readonly line: string }
      )
      : []
    const rule = "-".repeat(100)
    process.stdout.write(
      [
        "",
        rule,
        `reliability suite: ${rows.length} scenario line(s)`,
        rule,
        ...rows.map((row) => row.line),
        rule,
        ""
      ].join("\n")
    )
  }
}
