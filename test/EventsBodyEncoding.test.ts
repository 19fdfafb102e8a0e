/**
 * A body's character encoding, as the Python services read it: `json.loads(msg.data.decode("utf-8"))` accepts UTF-8
 * without a byte order mark only (a UTF-8 byte order mark is kept by `decode("utf-8")` and refused by `json.loads`;
 * UTF-16 and UTF-32 are not UTF-8, or hold zero bytes). The toolkit accepts and refuses the same bodies, each
 * checked against test/fixtures/interop/python_consumer_check.py, and its refusal names the encoding.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option, Schema } from "effect"
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as BodyFormat from "../src/Events/BodyFormat.js"
import * as EventEnvelope from "../src/Events/EventEnvelope.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as Streams from "../src/Events/Streams.js"

const vector = readFileSync("test/fixtures/interop/events/publisher-non-ascii.json", "utf8")
// The same envelope with its non-ASCII text as characters rather than `\uXXXX` escapes.
const raw = JSON.stringify(JSON.parse(vector))
const ProfileCreated = EventDefinition.event(
  "profile.created",
  Schema.Struct({ display_name: Schema.String, emoji: Schema.String })
)

const utf32 = (text: string, littleEndian: boolean): Uint8Array => {
  const points = Array.from(text, (c) => c.codePointAt(0)!)
  const view = new DataView(new ArrayBuffer(points.length * 4))
  points.forEach((p, i) => view.setUint32(i * 4, p, littleEndian))
  return new Uint8Array(view.buffer)
}
const utf16be = (text: string): Uint8Array => Buffer.from(text, "utf16le").swap16()
const bytes = (...parts: ReadonlyArray<ArrayLike<number>>): Uint8Array =>
  Uint8Array.from(parts.flatMap((p) => Array.from(p)))

/** Each encoding of a text, its name as a refusal gives it (none: UTF-8 without a byte order mark). */
const encodings = (text: string): ReadonlyArray<readonly [string | undefined, Uint8Array]> => [
  [undefined, Buffer.from(text, "utf8")],
  ["UTF-8 with a byte order mark", bytes([0xef, 0xbb, 0xbf], Buffer.from(text, "utf8"))],
  ["UTF-16 LE", Buffer.from(text, "utf16le")],
  ["UTF-16 LE with a byte order mark", bytes([0xff, 0xfe], Buffer.from(text, "utf16le"))],
  ["UTF-16 BE", utf16be(text)],
  ["UTF-16 BE with a byte order mark", bytes([0xfe, 0xff], utf16be(text))],
  ["UTF-32 LE", utf32(text, true)],
  ["UTF-32 LE with a byte order mark", bytes([0xff, 0xfe, 0, 0], utf32(text, true))],
  ["UTF-32 BE", utf32(text, false)],
  ["UTF-32 BE with a byte order mark", bytes([0, 0, 0xfe, 0xff], utf32(text, false))]
]

/** Whether the Python consumer's rules accept each body (one run of python_consumer_check.py for them all). */
const pythonAccepts = (bodies: ReadonlyArray<Uint8Array>): ReadonlyArray<boolean> => {
  const dir = mkdtempSync(join(tmpdir(), "glam-encoding-"))
  try {
    const files = bodies.map((body, i) => {
      const file = join(dir, `${i}.json`)
      writeFileSync(file, body)
      return file
    })
    const run = spawnSync("python3", ["test/fixtures/interop/python_consumer_check.py", ...files], {
      encoding: "utf8"
    })
    const lines = run.stdout.trim().split("\n")
    expect(lines).toHaveLength(bodies.length)
    return lines.map((line) => line.endsWith(": accepted"))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const reasonOf = (name: string) => `encoded as ${name}: a body is UTF-8 without a byte order mark`

describe("EventEnvelope: a body's encoding, as the Python services read it", () => {
  it.effect("accepts and refuses the bodies the Python consumer accepts and refuses, naming the encoding", () =>
    Effect.gen(function*() {
      for (const text of [vector, raw, ` \n\t${raw}\r\n`]) {
        const cases = encodings(text)
        const python = pythonAccepts(cases.map(([, body]) => body))
        for (const [i, [name, body]] of cases.entries()) {
          const read = yield* Effect.either(EventEnvelope.decodeBody(body))
          const typed = yield* Effect.either(EventEnvelope.decode(ProfileCreated, body))
          expect({ name, accepted: Either.isRight(read) }).toStrictEqual({ name, accepted: python[i] })
          expect(Either.isRight(typed)).toBe(python[i])
          if (name === undefined) {
            expect(python[i]).toBe(true)
            continue
          }
          expect(python[i]).toBe(false)
          const refused = { field: "<body>", reason: reasonOf(name) }
          for (const error of [Either.getLeft(read), Either.getLeft(typed)]) {
            expect(Option.getOrThrow(error).details).toStrictEqual(refused)
            expect(Option.getOrThrow(error).message).toBe(`Invalid event body: ${reasonOf(name)}`)
          }
        }
      }
    }))

  it.effect("a string beginning with a byte order mark is refused, named; other refusals keep their reasons", () =>
    Effect.gen(function*() {
      const bom = yield* Effect.flip(EventEnvelope.decodeBody(`\ufeff${raw}`))
      expect(bom.details).toStrictEqual({
        field: "<body>",
        reason: "begins with a byte order mark (U+FEFF): a body is JSON without one"
      })
      // Bytes that are not UTF-8 and show no encoding, and UTF-8 text that is not JSON.
      const latin1 = yield* Effect.flip(EventEnvelope.decodeBody(Buffer.from(raw, "latin1")))
      expect(latin1.details).toStrictEqual({ field: "<body>", reason: "not valid UTF-8" })
      const notJson = yield* Effect.flip(EventEnvelope.decodeBody(Buffer.from("not json", "utf8")))
      expect(notJson.details?.reason).toMatch(/^not valid JSON/)
      const array = yield* Effect.flip(EventEnvelope.decodeBody(Buffer.from("[1]", "utf8")))
      expect(array.details).toStrictEqual({ field: "<body>", reason: "not a JSON object" })
    }))

  it.effect("a healthcare body's refusal names its encoding too", () =>
    Effect.gen(function*() {
      const stream = Streams.make("APPOINTMENT", { subjects: ["appointment.>"] })
      const Booked = EventDefinition.event("appointment.booked", Schema.Struct({ appointment_id: Schema.String }), {
        verbatim: true,
        stream,
        format: "healthcare"
      })
      const text = JSON.stringify({ event_type: "appointment.booked", appointment_id: "a-1" })
      for (const [name, body] of encodings(text)) {
        const read = yield* Effect.either(BodyFormat.decode(Booked, body, {}))
        if (name === undefined) {
          expect(Either.isRight(read)).toBe(true)
          continue
        }
        expect(Either.isLeft(read) && read.left.details).toStrictEqual({ field: "<body>", reason: reasonOf(name) })
      }
    }))
})
