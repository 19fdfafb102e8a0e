/**
 * What the process writes to standard output (where the toolkit's default logger writes) while the scope is open,
 * still passed on to the previous writer.
 */
import * as Effect from "effect/Effect"

export const captureStdout = Effect.acquireRelease(
  Effect.sync(() => {
    const lines: Array<string> = []
    const write = process.stdout.write
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: Array<never>) => {
      lines.push(String(chunk))
      return write.call(process.stdout, chunk, ...rest)
    }) as typeof process.stdout.write
    return { lines, text: () => lines.join(""), write }
  }),
  ({ write }) => Effect.sync(() => (process.stdout.write = write))
)
