/**
 * The container images, checked statically (no container engine runs here): the repository's Dockerfile for the
 * examples and the one `glam new` writes. test/GeneratorService.test.ts checks the generated one again after a
 * real install and build.
 */
import { NodeContext } from "@effect/platform-node"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { promisify } from "node:util"
import { afterAll, describe, expect, it } from "vitest"
import { generate } from "../src/bin/internal/newService.js"
import * as Dockerfile from "./support/dockerfile.js"

const root = Path.resolve(import.meta.dirname, "..")
const work = mkdtempSync(Path.join(tmpdir(), "glam-dockerfile-"))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const outDir = (tsconfig: string) =>
  (JSON.parse(readFileSync(tsconfig, "utf8")) as { compilerOptions: { outDir: string } }).compilerOptions.outDir

const cmdOf = (text: string) => JSON.parse(Dockerfile.parse(text).filter((i) => i.keyword === "CMD").at(-1)!.args)

describe("Dockerfiles", () => {
  it("the repository's, for the examples: multi-stage, pinned, non-root, exec-form node, health-checked", () => {
    const text = readFileSync(Path.join(root, "Dockerfile"), "utf8")
    // The build stage bundles the example as \`npm start\` does.
    expect(text).toContain("RUN node scripts/build-examples.mjs start")
    expect(text).toContain("RUN npx tsx scripts/deploy-manifest.ts .deploy")
    const built = (relative: string) =>
      relative === ".glam/start.js" || relative === ".glam/start" || relative === ".deploy/package.json" ||
      relative === ".deploy/package-lock.json"
    expect(Dockerfile.problems(text, { context: root, built })).toEqual([])
    // The command runs the compiled form of an example that exists.
    const [, script] = cmdOf(text)
    expect(script).toBe(".glam/start.js")
    expect(existsSync(Path.join(root, "examples/start.ts"))).toBe(true)
  })

  it(
    "installs the examples' production set: the toolkit's peers at their pinned versions become dependencies",
    async () => {
      const target = Path.join(work, "deploy")
      await promisify(execFile)(Path.join(root, "node_modules/.bin/tsx"), ["scripts/deploy-manifest.ts", target], {
        cwd: root,
        timeout: 60_000
      })
      const source = JSON.parse(readFileSync(Path.join(root, "package.json"), "utf8"))
      const deploy = JSON.parse(readFileSync(Path.join(target, "package.json"), "utf8"))
      expect(deploy.peerDependencies).toBeUndefined()
      for (const name of Object.keys(source.peerDependencies)) {
        expect(deploy.dependencies[name], name).toBe(source.devDependencies[name])
        expect(deploy.devDependencies[name], name).toBeUndefined()
      }
      expect(deploy.dependencies["@opentelemetry/sdk-trace-node"]).toBe(
        source.devDependencies["@opentelemetry/sdk-trace-node"]
      )
      expect(deploy.devDependencies.vitest).toBe(source.devDependencies.vitest)
      expect(readFileSync(Path.join(target, "package-lock.json"), "utf8")).toBe(
        readFileSync(Path.join(root, "package-lock.json"), "utf8")
      )
    },
    90_000
  )

  it("the one glam new writes", async () => {
    const { directory } = await Effect.runPromise(
      generate({ name: "order-service", port: 8005, parent: work }).pipe(Effect.provide(NodeContext.layer))
    )
    const text = readFileSync(Path.join(directory, "Dockerfile"), "utf8")
    const built = (relative: string) => relative === outDir(Path.join(directory, "tsconfig.build.json"))
    // package-lock.json is written by the service's `npm install`; the slow test checks it after one.
    expect(Dockerfile.problems(text, { context: directory, built })).toEqual([
      "COPY package-lock.json: not in the build context",
      "COPY package-lock.json: not in the build context"
    ])
    expect(cmdOf(text)).toEqual(["node", "dist/main.js"])
    expect(text).toContain("EXPOSE 8005")
    expect(text).toContain("process.env.ORDER_HTTP__PORT || 8005")
  })

  it("finds what is wrong with a Dockerfile", () => {
    const text = [
      "FROM node:latest",
      "ENV DB_PASSWORD=hunter2",
      "WORKDIR /app",
      "COPY missing.txt ./",
      "COPY node_modules ./node_modules",
      "RUN npm install",
      "CMD npm start"
    ].join("\n")
    expect(Dockerfile.problems(text, { context: root, built: () => false })).toEqual([
      "not multi-stage: one FROM",
      "FROM node:latest is not pinned to a version (name:1.2.3)",
      "the final stage does not install with npm ci --omit=dev",
      "the final stage runs as root",
      "CMD is not the exec form [\"node\", ...]: npm start",
      "no HEALTHCHECK on /api/v1/health",
      "COPY missing.txt: not in the build context",
      "COPY node_modules: excluded by .dockerignore",
      "a secret-looking variable is baked in: DB_PASSWORD"
    ])
    const staged = [
      "FROM node:20.18.1-bookworm-slim AS build",
      "WORKDIR /app",
      "FROM node:20.18.1-bookworm-slim",
      "RUN npm ci --omit=dev",
      "COPY --from=build /app/out ./out",
      "USER root",
      "HEALTHCHECK CMD curl -f http://127.0.0.1/api/v1/health",
      "CMD [\"npm\", \"start\"]"
    ].join("\n")
    expect(Dockerfile.problems(staged, { context: root, built: (relative) => relative === "dist" })).toEqual([
      "the final stage runs as root",
      "CMD is not the exec form [\"node\", ...]: [\"npm\", \"start\"]",
      "the HEALTHCHECK needs a program the slim image lacks (curl, wget)",
      "COPY --from=build /app/out: not produced by the build (out)"
    ])
  })
})
