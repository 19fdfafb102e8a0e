import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it, vi } from "vitest"
import { findTool, toolAvailable, toolPath } from "./tools.js"

const root = fs.mkdtempSync(path.join(os.tmpdir(), "glam-tools-"))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

/** A directory holding the given files; `executable: false` leaves one without its x bit. */
const dir = (name: string, files: Record<string, { readonly executable: boolean }>): string => {
  const directory = path.join(root, name)
  fs.mkdirSync(directory, { recursive: true })
  for (const [file, { executable }] of Object.entries(files)) {
    fs.writeFileSync(path.join(directory, file), "#!/bin/sh\n", { mode: executable ? 0o755 : 0o644 })
  }
  return directory
}

const first = dir("first", { python3: { executable: false }, "nats-server": { executable: true } })
const second = dir("second", { python3: { executable: true }, python3_12: { executable: true } })
const pgBin = dir("pg-bin", { initdb: { executable: true }, pg_ctl: { executable: true } })
const empty = dir("empty", {})
const PATH = [first, "", second].join(path.delimiter)

describe("findTool", () => {
  it("takes the first executable file on PATH, passing over one without the x bit", () => {
    expect(findTool("python3", { PATH })).toEqual({ _tag: "Found", path: path.join(second, "python3") })
    expect(findTool("nats-server", { PATH })).toEqual({ _tag: "Found", path: path.join(first, "nats-server") })
  })

  it("passes over a directory of the program's name", () => {
    fs.mkdirSync(path.join(root, "shadow", "python3"), { recursive: true })
    const shadowed = [path.join(root, "shadow"), second].join(path.delimiter)
    expect(findTool("python3", { PATH: shadowed })).toEqual({ _tag: "Found", path: path.join(second, "python3") })
  })

  it("names the program and its variable when it is not on PATH", () => {
    expect(findTool("nats-server", { PATH: empty })).toEqual({
      _tag: "Missing",
      reason: "nats-server is not on PATH (or set GLAM_NATS_SERVER to its path)"
    })
    expect(findTool("python3", {})).toEqual({
      _tag: "Missing",
      reason: "python3 is not on PATH (or set GLAM_PYTHON to its path)"
    })
  })

  it("a program variable holds a path, or a name looked up on PATH, and is the only place looked at", () => {
    const python = path.join(second, "python3_12")
    expect(findTool("python3", { PATH: empty, GLAM_PYTHON: python })).toEqual({ _tag: "Found", path: python })
    expect(findTool("python3", { PATH, GLAM_PYTHON: "python3_12" })).toEqual({ _tag: "Found", path: python })
    expect(findTool("python3", { PATH, GLAM_PYTHON: path.join(empty, "python3") })).toEqual({
      _tag: "Missing",
      reason: `GLAM_PYTHON=${path.join(empty, "python3")} is not an executable file`
    })
    expect(findTool("python3", { PATH, GLAM_PYTHON: "python9" })).toEqual({
      _tag: "Missing",
      reason: "GLAM_PYTHON=python9 is not on PATH"
    })
  })

  it("GLAM_PG_BIN is the directory of the PostgreSQL programs, which Debian keeps off PATH", () => {
    expect(findTool("initdb", { PATH, GLAM_PG_BIN: pgBin })).toEqual({
      _tag: "Found",
      path: path.join(pgBin, "initdb")
    })
    expect(findTool("pg_ctl", { PATH: pgBin })).toEqual({ _tag: "Found", path: path.join(pgBin, "pg_ctl") })
    expect(findTool("postgres", { PATH: pgBin, GLAM_PG_BIN: pgBin })).toEqual({
      _tag: "Missing",
      reason: `postgres in GLAM_PG_BIN=${pgBin} is not an executable file`
    })
    expect(findTool("initdb", { PATH })).toEqual({
      _tag: "Missing",
      reason: "initdb is not on PATH (or set GLAM_PG_BIN to the directory that holds it)"
    })
  })
})

describe("toolAvailable", () => {
  it("is true for a program that is found, and toolPath gives its path", () => {
    expect(toolAvailable("python3", { PATH, GLAM_REQUIRE_SERVICES: "1" })).toBe(true)
    expect(toolPath("python3", { PATH })).toBe(path.join(second, "python3"))
  })

  it("warns loudly on stderr and skips when a program is missing", () => {
    const write = vi.spyOn(process.stderr, "write").mockImplementation(() => true)
    try {
      expect(toolAvailable("nats-server", { PATH: empty })).toBe(false)
      expect(write).toHaveBeenCalledWith(
        "\n!!! nats-server is not on PATH (or set GLAM_NATS_SERVER to its path): SKIPPING the tests that run" +
          " nats-server. Install it, or run bash .ci/run. !!!\n\n"
      )
    } finally {
      write.mockRestore()
    }
  })

  it("fails instead under GLAM_REQUIRE_SERVICES=1, as CI runs", () => {
    expect(() => toolAvailable("nats-server", { PATH: empty, GLAM_REQUIRE_SERVICES: "1" })).toThrow(
      "nats-server is not on PATH (or set GLAM_NATS_SERVER to its path); the tests that run nats-server require it" +
        " (GLAM_REQUIRE_SERVICES=1)"
    )
    expect(() => toolPath("nats-server", { PATH: empty })).toThrow("nats-server is not on PATH")
  })
})
