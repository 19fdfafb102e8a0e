import * as fc from "fast-check"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import type { TestProject } from "vitest/node"
import setupRun from "./runTmpdir.js"
import {
  maxSocketPathBytes,
  postgresDirPrefix,
  postgresSocketName,
  runDirBase,
  runDirPrefix,
  socketPath
} from "./socketPaths.js"

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "glam-socket-paths-"))
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }))

/** A macOS user's `TMPDIR`: 49 bytes. */
const macTmpdir = "/var/folders/zz/zyxvpxvq6csfxvn_n0000000000000/T"

/** The longest PostgreSQL socket path a test makes when the run's directory is made in `base`. */
const longestPostgresSocket = (base: string) =>
  path.posix.join(base, `${runDirPrefix}XXXXXX`, `${postgresDirPrefix}XXXXXX`, postgresSocketName(65535))

describe("unix socket paths of the test servers", () => {
  it("a run under a macOS TMPDIR is made under /tmp, and PostgreSQL's socket path fits macOS's sun_path", () => {
    expect(Buffer.byteLength(longestPostgresSocket(macTmpdir))).toBeGreaterThan(maxSocketPathBytes("darwin"))
    const base = runDirBase(macTmpdir, "darwin")
    expect(base).toBe("/tmp")
    expect(Buffer.byteLength(longestPostgresSocket(base))).toBeLessThanOrEqual(maxSocketPathBytes("darwin"))
  })

  it("a short TMPDIR keeps the run under it", () => {
    expect(runDirBase("/tmp", "darwin")).toBe("/tmp")
    expect(runDirBase("/var/tmp", "linux")).toBe("/var/tmp")
  })

  it("whatever TMPDIR is, the longest socket path under the run fits", () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ minLength: 1, maxLength: 40, unit: "grapheme" }), { maxLength: 8 }),
        fc.constantFrom<NodeJS.Platform>("darwin", "linux", "freebsd"),
        (parts, platform) => {
          const tmpdir = "/" + parts.map((part) => part.replaceAll("/", "_")).join("/")
          const socket = longestPostgresSocket(runDirBase(tmpdir, platform))
          expect(Buffer.byteLength(socket)).toBeLessThanOrEqual(maxSocketPathBytes(platform))
        }
      )
    )
  })

  it("a socket path over the limit is a clear error", () => {
    const dir = "/" + "d".repeat(100)
    expect(() => socketPath(dir, postgresSocketName(55400), "darwin")).toThrow(
      `The unix socket path ${dir}/.s.PGSQL.55400 is 116 bytes, over the 103 of darwin's sun_path`
    )
    expect(socketPath("/tmp/x", postgresSocketName(55400), "darwin")).toBe("/tmp/x/.s.PGSQL.55400")
  })

  it("the run's temporary directory under a long TMPDIR leaves room for PostgreSQL's socket", () => {
    const long = path.join(scratch, "a-temporary-directory-as-long-as-the-one-macos-gives")
    fs.mkdirSync(long)
    const previous = process.env.TMPDIR
    process.env.TMPDIR = long
    const teardown = setupRun({ tmpDir: path.join(scratch, "vitest") } as TestProject)
    try {
      const run = process.env.TMPDIR
      expect(path.basename(run)).toMatch(new RegExp(`^${runDirPrefix}`))
      expect(fs.statSync(run).isDirectory()).toBe(true)
      const socket = path.join(run, `${postgresDirPrefix}XXXXXX`, postgresSocketName(65535))
      expect(Buffer.byteLength(socket)).toBeLessThanOrEqual(maxSocketPathBytes())
    } finally {
      const run = process.env.TMPDIR
      teardown()
      expect(process.env.TMPDIR).toBe(long)
      expect(fs.existsSync(run)).toBe(false)
      process.env.TMPDIR = previous
    }
  })
})
