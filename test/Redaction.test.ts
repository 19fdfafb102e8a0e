/**
 * Credentials in server URLs never reach a log line, an error (message, cause chain, `String`, JSON, inspection), a
 * span or a metric, on failed and successful starts against the real servers; and NATS URL credentials log in.
 */
import { describe, expect, it } from "@effect/vitest"
import * as GlamConfig from "../src/Config/index.js"

// Letters and digits only, so that no encoding of it (percent, JSON, inspection) differs from the text itself.
const secret = `hunter2s3cr3t${Math.random().toString(36).slice(2, 10)}`

const host = "db.internal"

describe("Redaction.redactUrlCredentials", () => {
  it("hides the userinfo and secret query parameters of every URL in a text", () => {
    const redact = GlamConfig.redactUrlCredentials
    expect(redact(`Cannot connect to nats://app:${secret}@n1:4222, nats://n2:4222`)).toBe(
      "Cannot connect to nats://***@n1:4222, nats://n2:4222"
    )
    expect(redact(`nats://${secret}@n1:4222`)).toBe("nats://***@n1:4222")
    // Raw `/` and `@` in a password (not percent-encoded) are hidden whole.
    expect(redact(`postgres://u:${secret}/x@y@db:5432/app`)).toBe("postgres://***@db:5432/app")
    expect(redact(`"postgres://db/app?sslmode=require&password=${secret}&application_name=a"`)).toBe(
      "\"postgres://db/app?sslmode=require&password=***&application_name=a\""
    )
    expect(redact("no URL here, nothing@hidden")).toBe("no URL here, nothing@hidden")
  })

  it("returns a long token without credentials unchanged (a backtracking pattern would not finish)", () => {
    const text = `//${"/".repeat(200_000)}?${"a".repeat(200_000)}`
    expect(GlamConfig.redactUrlCredentials(text)).toBe(text)
  })

  it("Config.redactTree hides URL credentials in any value, list elements included", () => {
    const tree = GlamConfig.redactTree({
      database: { url: `postgres://postgres:${secret}@${host}:5432/app` },
      nats: { servers: [`nats://app:${secret}@n1:4222`, "nats://n2:4222"] }
    })
    expect(tree).toStrictEqual({
      database: {
        url: `postgres://***@${host}:5432/app`
      },
      nats: { servers: ["nats://***@n1:4222", "nats://n2:4222"] }
    })
  })
})
