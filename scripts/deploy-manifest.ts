/**
 * `tsx scripts/deploy-manifest.ts <dir>`: the manifest the examples' container image installs from. The toolkit's
 * Effect and OpenTelemetry packages are peer dependencies, which the repository installs as development ones;
 * an application (the examples) needs them at run time. This writes `<dir>/package.json` with them moved to
 * `dependencies` at the versions the repository pins, and copies the lock file beside it; `npm install
 * --package-lock-only` in `<dir>` then re-flags the lock without changing a version, so that `npm ci --omit=dev`
 * installs exactly the production set.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import * as Path from "node:path"

interface Manifest {
  dependencies: Record<string, string>
  devDependencies: Record<string, string>
  peerDependencies?: Record<string, string>
  [key: string]: unknown
}

const root = Path.resolve(import.meta.dirname, "..")
const target = Path.resolve(process.argv[2] ?? ".deploy")
const manifest = JSON.parse(readFileSync(Path.join(root, "package.json"), "utf8")) as Manifest
// The peers, and the OpenTelemetry SDK packages @effect/opentelemetry loads (the README's install line).
const runtime = new Set([
  ...Object.keys(manifest.peerDependencies ?? {}),
  ...Object.keys(manifest.devDependencies).filter((name) => name.startsWith("@opentelemetry/"))
])
for (const name of runtime) {
  const version = manifest.devDependencies[name]
  if (version === undefined) throw new Error(`${name} is a peer dependency without a pinned development version`)
  manifest.dependencies[name] = version
  delete manifest.devDependencies[name]
}
delete manifest.peerDependencies
mkdirSync(target, { recursive: true })
writeFileSync(Path.join(target, "package.json"), JSON.stringify(manifest, null, 2) + "\n")
copyFileSync(Path.join(root, "package-lock.json"), Path.join(target, "package-lock.json"))
