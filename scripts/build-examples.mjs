// `npm start`'s prestart (and `npm run build:examples`): compiles each named example (default: all of them) with
// esbuild into `.glam/<name>.js`, one file per example with the toolkit's source bundled in and the dependencies left
// to `node_modules`, in about a second. `@glam/shared` resolves to `src/` through tsconfig.json's `paths`, as it does
// for `tsc` and `tsx`. Plain JavaScript, so that it starts without a TypeScript loader.
import { build } from "esbuild"
import { readdirSync } from "node:fs"

const names = process.argv.slice(2)
const examples = names.length > 0
  ? names
  : readdirSync("examples").filter((file) => file.endsWith(".ts")).map((file) => file.slice(0, -3))

// Effect's own packages are bundled too (tree-shaken: a service loads one file instead of some 700 modules); every
// other package, theirs included, stays in node_modules, where the toolkit imports its heavy optional parts only
// when they are used.
const bundled = /^(effect|@effect\/[^/]+|@glam\/shared)(\/|$)/
const externals = {
  name: "externals",
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => (bundled.test(args.path) ? undefined : { external: true }))
  }
}

await build({
  entryPoints: examples.map((name) => `examples/${name}.ts`),
  outdir: ".glam",
  bundle: true,
  plugins: [externals],
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: true,
  tsconfig: "tsconfig.json",
  logLevel: "warning"
})
