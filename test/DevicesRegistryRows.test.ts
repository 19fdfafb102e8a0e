/**
 * The registry's check of the rows it reads (at startup, at each read of every row, at a read of the devices a
 * notification names) against the `Device` model it stores them with: it keeps exactly the rows the model's
 * `device_id` and `topics` fields decode, holding what they decode to, and skips the others by id.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Logger, LogLevel, Schema } from "effect"
import * as fc from "fast-check"
import { checked, Device } from "../src/Devices/internal/deviceRecord.js"

/** The columns `readRegistrations` selects, as the model defines them. */
const decodeRow = Schema.decodeUnknownEither(
  Schema.Struct({ device_id: Device.fields.device_id, topics: Device.fields.topics })
)

/** A value of a column as a driver could return it: text, NULL, a number, a list of those, or anything else. */
const scalar = fc.oneof(fc.string(), fc.constant(null), fc.integer(), fc.double(), fc.boolean())
const column = fc.oneof(
  scalar,
  fc.array(fc.string()),
  fc.array(scalar),
  fc.array(fc.array(fc.string())),
  fc.anything()
)
/** A row as the driver returns it: a plain object of the columns selected. */
const row = fc.record({
  device_id: fc.oneof(fc.string(), column),
  topics: fc.oneof(fc.array(fc.string()), column)
}, { noNullPrototype: true })

const check = (rows: ReadonlyArray<Record<string, unknown>>) =>
  Effect.runSync(checked(rows).pipe(Logger.withMinimumLogLevel(LogLevel.None)))

describe("the registry's check of a row read", () => {
  it("keeps exactly the rows the Device model's fields decode, as they decode, and skips the others by id", () =>
    fc.assert(
      fc.property(fc.array(row, { maxLength: 8 }), (rows) => {
        const decoded = rows.map((r) => ({ row: r, decoded: decodeRow(r) }))
        const result = check(rows)
        expect(result.rows).toStrictEqual(decoded.flatMap((d) => Either.isRight(d.decoded) ? [d.decoded.right] : []))
        expect([...result.skipped].sort()).toStrictEqual(
          [
            ...new Set(
              decoded.flatMap((d) =>
                Either.isLeft(d.decoded) && typeof d.row.device_id === "string" ? [d.row.device_id] : []
              )
            )
          ].sort()
        )
      }),
      { numRuns: 1000 }
    ))

  it("keeps a row of the registry's shape as the driver returned it, skips a NULL or a list among its topics", () => {
    const good = { device_id: "meter-1", topics: ["site/meter-1/data"] }
    const result = check([
      good,
      { device_id: "meter-2", topics: ["site/a", null] },
      { device_id: "meter-3", topics: [["site/a", "site/b"]] },
      { device_id: "meter-4", topics: null }
    ])
    expect(result.rows).toStrictEqual([good])
    expect(result.rows[0]).toBe(good)
    expect([...result.skipped]).toStrictEqual(["meter-2", "meter-3", "meter-4"])
  })
})
