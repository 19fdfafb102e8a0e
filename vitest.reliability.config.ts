import { defineConfig } from "vitest/config"

// `npm run test:reliability`: the fault scenarios of test/reliability, each on servers of its own (nats-servers on
// 4400-4499, PostgreSQL on 55400-55499) and processes it kills. One file at a time: they share 2 cores with CI.
export default defineConfig({
  test: {
    include: ["test/reliability/**/*.test.ts"],
    // One temporary directory per run, removed at its end (after the other setup's teardown): runTmpdir.ts.
    globalSetup: ["test/support/runTmpdir.ts", "test/reliability/setup.ts"],
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 120_000,
    // What a test and the code under it log (the toolkit's sink writes to process.stdout: routed through the console
    // vitest captures) is shown for failing tests only. The scenario lines, the suite's output, are in the table the
    // global setup ends the run with, and with a failing test.
    silent: "passed-only",
    setupFiles: ["test/support/quietStdout.ts"]
  }
})
