/**
 * What `Migrations` reads in the SQL text of a migration: its checksum, and the statements that would end the
 * transaction the migrator runs it in (`COMMIT`, `BEGIN`...), found by a scan that knows PostgreSQL's strings,
 * quoted identifiers, comments, dollar quoting and `BEGIN ATOMIC` bodies.
 *
 * @internal
 */
import { createHash } from "node:crypto"

/**
 * The SHA-256 of a migration's SQL text, in hex; `\r\n` counts as `\n`, so a checkout that converts line endings
 * reads the same.
 *
 * @internal
 */
export const checksumOf = (text: string): string =>
  createHash("sha256").update(text.replaceAll("\r\n", "\n"), "utf8").digest("hex")

/**
 * A transaction-control statement found in a migration: its name (`COMMIT`, `START TRANSACTION`) and its line
 * (from 1).
 *
 * @internal
 */
export interface TransactionControl {
  readonly statement: string
  readonly line: number
}

const wordStart = /[A-Za-z_\u0080-\uFFFF]/
const wordPart = /[A-Za-z0-9_$\u0080-\uFFFF]/
const dollarTag = /^\$([A-Za-z_\u0080-\uFFFF][A-Za-z0-9_\u0080-\uFFFF]*)?\$/

// What a top-level statement's first words make of it: the name of a statement ending or starting a transaction.
const controls = (words: ReadonlyArray<string>): string | undefined => {
  const [first, second] = words
  switch (first) {
    case "begin":
    case "commit":
    case "end":
    case "abort":
      return first.toUpperCase()
    case "rollback":
      return second === "to" ? undefined : "ROLLBACK"
    case "start":
    case "prepare":
      return second === "transaction" ? `${first.toUpperCase()} TRANSACTION` : undefined
    default:
      return undefined
  }
}

// `CREATE [OR REPLACE] FUNCTION|PROCEDURE`: its body may be `BEGIN ATOMIC ... END` with semicolons inside.
const routine = (words: ReadonlyArray<string>): boolean =>
  words[0] === "create" && (
    words[1] === "function" || words[1] === "procedure" ||
    (words[1] === "or" && words[2] === "replace" && (words[3] === "function" || words[3] === "procedure"))
  )

/**
 * The first statement of `text` that starts, ends or prepares a transaction (`BEGIN`, `START TRANSACTION`,
 * `COMMIT`, `END`, `ROLLBACK` but `ROLLBACK TO`, `ABORT`, `PREPARE TRANSACTION`), at the top level: words within
 * strings, quoted identifiers, comments, dollar-quoted bodies and a routine's `BEGIN ATOMIC ... END` are not
 * statements. Semicolons split statements as psql splits them (not within parentheses or such a body).
 *
 * @internal
 */
export const transactionControl = (text: string): TransactionControl | undefined => {
  let words: Array<string> = []
  let start = -1
  let parens = 0
  let depth = 0
  let i = 0
  const n = text.length
  const lineAt = (at: number) => text.slice(0, at).split("\n").length
  const endStatement = (): TransactionControl | undefined => {
    const statement = controls(words)
    const found = statement === undefined ? undefined : { statement, line: lineAt(start) }
    words = []
    start = -1
    parens = 0
    depth = 0
    return found
  }
  while (i < n) {
    const c = text[i]!
    const next = text[i + 1]
    if (c === "-" && next === "-") {
      const end = text.indexOf("\n", i)
      i = end === -1 ? n : end + 1
    } else if (c === "/" && next === "*") {
      let nested = 1
      i += 2
      while (i < n && nested > 0) {
        if (text[i] === "/" && text[i + 1] === "*") {
          nested++
          i += 2
        } else if (text[i] === "*" && text[i + 1] === "/") {
          nested--
          i += 2
        } else i++
      }
    } else if (c === ";") {
      if (parens === 0 && depth === 0) {
        if (start !== -1) {
          const found = endStatement()
          if (found !== undefined) return found
        }
      }
      i++
    } else if (c === "'" || c === "\"") {
      if (start === -1) start = i
      // `E'...'` (an escape string) takes backslash escapes; every quoted text doubles its quote.
      const escapes = c === "'" && i > 0 && (text[i - 1] === "E" || text[i - 1] === "e") &&
        (i < 2 || !wordPart.test(text[i - 2]!))
      i++
      while (i < n) {
        if (escapes && text[i] === "\\") i += 2
        else if (text[i] === c && text[i + 1] === c) i += 2
        else if (text[i] === c) break
        else i++
      }
      i++
    } else if (c === "$" && (i === 0 || !wordPart.test(text[i - 1]!))) {
      const tag = dollarTag.exec(text.slice(i, i + 130))
      if (tag === null) {
        i++
      } else {
        if (start === -1) start = i
        const end = text.indexOf(tag[0], i + tag[0].length)
        i = end === -1 ? n : end + tag[0].length
      }
    } else if (wordStart.test(c)) {
      let end = i + 1
      while (end < n && wordPart.test(text[end]!)) end++
      const word = text.slice(i, end).toLowerCase()
      if (start === -1) start = i
      if (words.length < 4) words.push(word)
      if (parens === 0 && routine(words)) {
        if (word === "begin") depth++
        else if (word === "case" && depth > 0) depth++
        else if (word === "end" && depth > 0) depth--
      }
      i = end
    } else {
      if (c === "(") parens++
      else if (c === ")" && parens > 0) parens--
      if (start === -1 && !/\s/.test(c)) start = i
      i++
    }
  }
  return start === -1 ? undefined : endStatement()
}
