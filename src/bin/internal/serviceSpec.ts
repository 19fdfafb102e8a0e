/**
 * What `glam new` is asked for, checked before anything is written: the service name (an npm package name that
 * is also usable as a NATS token, durable and stream name), the HTTP port, the title and the description.
 *
 * @internal
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { builtinModules } from "node:module"
import { envPrefixFor, flatAliases } from "../../Config/internal/names.js"

/** Why `glam new` refused to write anything. @internal */
export class NewServiceError extends Data.TaggedError("NewServiceError")<{
  readonly reason: "InvalidName" | "InvalidOption" | "DirectoryExists" | "WriteFailed" | "TemplatesMissing"
  readonly message: string
}> {}

/** A checked request for a new service, with the names derived from it. @internal */
export interface ServiceSpec {
  readonly name: string
  readonly port: number
  readonly title: string
  readonly description: string
  /** Prefix of the service's variables: `order-service` -> `ORDER`. */
  readonly envPrefix: string
  /** The service's stream: `ORDER`, holding `cmd.order.>` and `evt.order.>`. */
  readonly stream: string
  /** The subject token of its events: `order`. */
  readonly domain: string
}

// PostgreSQL keeps 63 bytes of a database name, and a name without a `-service` suffix is the database's whole (the
// compose file's `order_sync` for `order-sync`): a longer one would be cut in the server and not match.
const maxNameLength = 63
const namePattern = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/
// Device names Windows reserves for a file or directory whatever its extension (con, con.yml).
const windowsDeviceName = /^(?:con|prn|aux|nul|com[0-9]|lpt[0-9])$/

/** Why a name is refused, or `undefined` when it is usable. @internal */
export const nameProblem = (name: string): string | undefined => {
  if (name.length === 0) return "it is empty"
  if (name.length > maxNameLength) return `it is longer than ${maxNameLength} characters`
  if (!namePattern.test(name)) {
    return "use lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen"
  }
  if (builtinModules.includes(name)) return `${name} is the name of a Node.js core module`
  // The variables every service reads by their own names (`APP_ENV`, `NATS_USER`, `REDIS_URL`, `LOG_LEVEL`, ...):
  // under a prefix they begin with, they would also be read as this service's own settings (`APP_ENV` as `env`).
  const prefix = envPrefixFor(name)
  const shared = flatAliases(undefined).map((alias) => alias.variable).filter((v) => v.startsWith(`${prefix}_`))
  if (shared.length > 0) {
    return `${name} gives the variable prefix ${prefix}_, the start of ${shared.join(", ")}, which every service ` +
      `reads by that name: this one would read it as its own settings too; choose another name ` +
      `(${prefix.toLowerCase().replace(/_/g, "-")}-gateway, say)`
  }
  if (windowsDeviceName.test(name)) {
    return `${name} is a reserved file name on Windows: its directory and config/services/${name}.yml could not ` +
      "be checked out there"
  }
  return undefined
}

const invalidOption = (message: string) => new NewServiceError({ reason: "InvalidOption", message })

/** The longest title or description, in characters (code points: an emoji is one). @internal */
export const maxTextLength = 200

const codePoint = (char: string) => `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`

/** Why a title or description is refused, or `undefined` when it is usable (trimmed). */
const textProblem = (value: string): string | undefined => {
  // Control characters and line breaks have no faithful rendering in a one-line Markdown paragraph or heading;
  // a lone surrogate (not a character) none in a UTF-8 file.
  const control = /[\p{Cc}\p{Zl}\p{Zp}]/u.exec(value)
  if (control !== null) {
    return `it holds ${codePoint(control[0])}, a control character or line break: use one line of printable text`
  }
  const surrogate = /\p{Cs}/u.exec(value)
  if (surrogate !== null) return `it holds a lone surrogate ${codePoint(surrogate[0])}, which is not a character`
  // An embedding, override or isolate reorders what an editor shows of the line it is on (and of the code around
  // the string it lands in): the source would not read as it runs.
  const bidi = /[\u202A-\u202E\u2066-\u2069]/.exec(value)
  if (bidi !== null) {
    return `it holds ${codePoint(bidi[0])}, a bidirectional control that makes the generated code display reordered`
  }
  if (value.trim().length === 0) return "it is empty or only spaces"
  const length = [...value.trim()].length
  if (length > maxTextLength) return `it is ${length} characters long, at most ${maxTextLength}`
  return undefined
}

// One line of printable text: titles and descriptions land in JSON, TypeScript strings and Markdown.
const checkText = (option: string, value: string) => {
  const problem = textProblem(value)
  return problem === undefined ? Effect.succeed(value.trim()) : Effect.fail(invalidOption(`--${option}: ${problem}`))
}

const titleOf = (name: string) => name.split("-").map((word) => word.charAt(0).toUpperCase() + word.slice(1)).join(" ")

/** Checks the request and derives the names the templates use. @internal */
export const make = (input: {
  readonly name: string
  /** A number, or the text typed on the command line. */
  readonly port: number | string
  readonly title?: string | undefined
  readonly description?: string | undefined
}): Effect.Effect<ServiceSpec, NewServiceError> =>
  Effect.gen(function*() {
    const problem = nameProblem(input.name)
    if (problem !== undefined) {
      return yield* new NewServiceError({
        reason: "InvalidName",
        message: `Invalid service name ${JSON.stringify(input.name)}: ${problem}. ` +
          "The name is the npm package name, the NATS durable consumer and (without -service) the stream name " +
          "and the variable prefix, e.g. order-service."
      })
    }
    // As typed on the command line: decimal digits only (no 0x50, 1e3, 80.0 or spaces read as a number).
    const port = typeof input.port === "number"
      ? input.port
      : /^[0-9]{1,5}$/.test(input.port)
      ? Number(input.port)
      : NaN
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      const got = typeof input.port === "number" ? String(input.port) : JSON.stringify(input.port)
      return yield* invalidOption(`--port must be an integer from 1 to 65535, got ${got}`)
    }
    const title = input.title === undefined ? titleOf(input.name) : yield* checkText("title", input.title)
    // The default is derived from a checked title: it may be longer than a typed description may be.
    const description = input.description === undefined
      ? `${title}, built on @glam/shared`
      : yield* checkText("description", input.description)
    const envPrefix = envPrefixFor(input.name)
    return {
      name: input.name,
      port,
      title,
      description,
      envPrefix,
      stream: envPrefix,
      domain: envPrefix.toLowerCase()
    }
  })
