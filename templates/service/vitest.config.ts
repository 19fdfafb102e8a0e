import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The first test starts PGlite and applies the migrations: allow for a slow machine.
    testTimeout: 60_000,
    hookTimeout: 120_000
  }
})
