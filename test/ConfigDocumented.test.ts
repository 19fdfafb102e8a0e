/**
 * Every configuration key of the devices, the cache, token issuing, the security headers and the inbox has a row in
 * docs/Config.md: the keys are those each `Config` reads, recorded by a provider that answers none of them.
 */
import { describe, expect, it } from "@effect/vitest"
import type { Config } from "effect"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import * as Path from "node:path"
import * as CacheConfig from "../src/Cache/CacheConfig.js"
import * as KeysRead from "../src/Config/internal/keysRead.js"
import * as Devices from "../src/Devices/Devices.js"
import * as MqttConfig from "../src/Devices/MqttConfig.js"
import * as HttpConfig from "../src/Http/HttpConfig.js"
import * as JwtIssuer from "../src/Http/JwtIssuer.js"
import * as SecurityHeaders from "../src/Http/SecurityHeaders.js"
import * as Inbox from "../src/Sql/Inbox.js"

const configDoc = readFileSync(Path.resolve(import.meta.dirname, "..", "docs", "Config.md"), "utf8")

/** The dotted keys a config reads. */
const keysOf = <A>(config: Config.Config<A>): Effect.Effect<ReadonlySet<string>> =>
  Effect.sync(() => KeysRead.keysRead(config))

describe("docs/Config.md", () => {
  it.effect("has a row for every key of mqtt, devices, redis, cache, auth issuing, http headers and inbox", () =>
    Effect.gen(function*() {
      const common = new Set(["service.name", "app_env", ...(yield* keysOf(HttpConfig.auth))])
      const keys = [
        ...(yield* keysOf(MqttConfig.config)),
        ...(yield* keysOf(Devices.config)),
        ...(yield* keysOf(CacheConfig.config)),
        ...(yield* keysOf(JwtIssuer.config)),
        ...(yield* keysOf(SecurityHeaders.config)),
        ...(yield* keysOf(Inbox.config))
      ].filter((key) => !common.has(key))
      expect(keys).toEqual(
        expect.arrayContaining(["mqtt.broker_url", "devices.heartbeat_timeout", "cache.ttl", "inbox.retention"])
      )
      const rows = new Set([...configDoc.matchAll(/^\| `([a-z0-9_.]+)` \|/gm)].map((m) => m[1]))
      expect(keys.filter((key) => !rows.has(key))).toEqual([])
    }))
})
