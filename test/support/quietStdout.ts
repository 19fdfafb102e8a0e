/**
 * A vitest setup file: what the code under test writes straight to standard output (the toolkit's default log sink
 * writes with `process.stdout.write`) goes through `console.log` instead, so vitest shows it with the failing test
 * that wrote it and leaves it out of a passing run (`silent: "passed-only"`). Processes a test spawns keep their own
 * standard output.
 */
process.stdout.write = ((chunk: string | Uint8Array, ...rest: Array<unknown>): boolean => {
  const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8")
  console.log(text.endsWith("\n") ? text.slice(0, -1) : text)
  const done = rest.find((argument): argument is () => void => typeof argument === "function")
  done?.()
  return true
}) as typeof process.stdout.write
