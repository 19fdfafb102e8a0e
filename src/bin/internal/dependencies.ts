/**
 * What a service built on the toolkit installs beside it: the peer dependencies at the versions of the README's
 * "Use it in a service" install line (a test keeps the two equal), and the tools of a generated service.
 *
 * @internal
 */

/** @internal */
export const runtime: Readonly<Record<string, string>> = {
  "effect": "^3.22.4",
  "@effect/platform": "^0.97.2",
  "@effect/platform-node": "^0.108.2",
  "@effect/sql": "^0.52.1",
  "@effect/sql-pg": "^0.53.0",
  "@effect/experimental": "^0.61.1",
  "@effect/cli": "^0.77.2",
  "@effect/opentelemetry": "^0.64.1",
  "@opentelemetry/api": "~1.9.0",
  "@opentelemetry/semantic-conventions": "^1.37.0",
  "@opentelemetry/core": "2.12.0",
  "@opentelemetry/resources": "2.12.0",
  "@opentelemetry/sdk-metrics": "2.12.0",
  "@opentelemetry/sdk-trace-base": "2.12.0",
  "@opentelemetry/sdk-trace-node": "2.12.0",
  "@opentelemetry/sdk-trace-web": "2.12.0",
  "@opentelemetry/sdk-logs": "0.223.0",
  "@opentelemetry/exporter-prometheus": "0.223.0",
  "@opentelemetry/exporter-trace-otlp-http": "0.223.0"
}

/** The README's development install line, plus the test runner of a generated service. @internal */
export const development: Readonly<Record<string, string>> = {
  "typescript": "~5.9.3",
  "@types/node": "^20.19.0",
  "vitest": "^3.2.7",
  "@effect/vitest": "^0.30.0"
}

/**
 * The install scripts of the dependencies, as npm's `allowScripts` records them (advisory in npm 11, enforced from
 * npm 12): esbuild's `postinstall` checks its platform binary; `@parcel/watcher` (file watching, which the toolkit
 * does not use) and `msgpackr-extract` (a native MessagePack decoder) load the prebuilt binaries of their optional
 * dependencies and would only build from source with node-gyp. The toolkit's own `package.json` holds the same
 * (a test keeps the two equal).
 *
 * @internal
 */
export const installScripts: Readonly<Record<string, boolean>> = {
  "esbuild": true,
  "@parcel/watcher": false,
  "msgpackr-extract": false
}
