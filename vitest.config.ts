import { fileURLToPath } from "node:url"
import { configDefaults, defineConfig } from "vitest/config"

const src = fileURLToPath(new URL("./src", import.meta.url))

export default defineConfig({
  // The examples import the package by its name, as a service does: here that is the source (as in tsconfig.json).
  resolve: {
    alias: [
      { find: /^@glam\/shared$/, replacement: `${src}/index.ts` },
      { find: /^@glam\/shared\/(\w+)$/, replacement: `${src}/$1/index.ts` }
    ]
  },
  test: {
    include: ["test/**/*.test.ts"],
    // The fault scenarios run on their own: npm run test:reliability (vitest.reliability.config.ts).
    exclude: [...configDefaults.exclude, "test/reliability/**"],
    // Integration suites share one PostgreSQL and one NATS server: run files one at a time so that
    // stream, consumer and table names never race, and keep the 2-core CI machine predictable.
    fileParallelism: false,
    // One temporary directory per run, removed at its end: test/support/runTmpdir.ts.
    globalSetup: ["test/support/runTmpdir.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // What the code under test logs is shown for failing tests only (`--silent=false` shows all of it).
    // A suite skipped for a missing server or program warns on stderr directly, so that stays visible.
    silent: "passed-only",
    // The toolkit's log sink writes to process.stdout directly: route it through the console vitest captures.
    setupFiles: ["test/support/quietStdout.ts"]
  }
})
