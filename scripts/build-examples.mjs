// `npm start`'s prestart (and `npm run build:examples`): compiles each named example (default: all of them) with
// esbuild into `.glam/<name>.js`, with the toolkit's source bundled in and the dependencies left to `node_modules`, in
// about a second. `@glam/shared` resolves to `src/` through tsconfig.json's `paths`, as it does for `tsc` and `tsx`.
// Plain JavaScript, so that it starts without a TypeScript loader.
//
// Code splitting keeps the toolkit's lazy imports lazy: what a module imports with `import()` (the OpenTelemetry SDK
// without an exporter, the Prometheus serializer before the first scrape, ioredis without Redis, ...) goes into a
// chunk of `.glam/<name>/` that is loaded when it is used, not at start. A single file would hoist the dependencies
// of those chunks into the entry's static imports and load them all.
import { build } from "esbuild"
import { readdirSync, rmSync, statSync } from "node:fs"
import * as path from "node:path"

const names = process.argv.slice(2)
const examples = names.length > 0
  ? names
  : readdirSync("examples").filter((file) => file.endsWith(".ts")).map((file) => file.slice(0, -3))

// Effect's own packages are bundled too (tree-shaken: a service loads a few files instead of some 700 modules);
// every other package, theirs included, stays in node_modules, where the toolkit imports its heavy optional parts
// only when they are used.
const bundled = /^(effect|@effect\/[^/]+|@glam\/shared)(\/|$)/
const externals = {
  name: "externals",
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => (bundled.test(args.path) ? undefined : { external: true }))
  }
}

// One build per example, each with its own chunk folder. A rebuild does not delete the chunks it did not write at
// once: a service started from the previous build may still import one of them (the Prometheus serializer at its
// first scrape, say), and chunk names are content hashes, so an unchanged chunk keeps its name. Those older than a
// day are removed.
const day = 24 * 60 * 60 * 1000
await Promise.all(examples.map(async (name) => {
  const result = await build({
    entryPoints: [`examples/${name}.ts`],
    outdir: ".glam",
    entryNames: "[name]",
    chunkNames: `${name}/[name]-[hash]`,
    bundle: true,
    splitting: true,
    plugins: [externals],
    platform: "node",
    format: "esm",
    target: "node20",
    sourcemap: true,
    tsconfig: "tsconfig.json",
    metafile: true,
    logLevel: "warning"
  })
  const written = new Set(Object.keys(result.metafile.outputs).map((file) => path.resolve(file)))
  const chunks = path.resolve(".glam", name)
  for (const file of readdirSync(chunks)) {
    const chunk = path.join(chunks, file)
    if (!written.has(chunk) && Date.now() - statSync(chunk).mtimeMs > day) rmSync(chunk, { force: true })
  }
}))
