/**
 * `glam new`: the files it writes for a service (the slow test/GeneratorService.test.ts installs, type-checks,
 * tests and starts one), and its refusals, which write nothing.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Effect from "effect/Effect"
import { execFile } from "node:child_process"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { promisify } from "node:util"
import ts from "typescript"
import { afterAll, describe, expect, it } from "vitest"
import * as Yaml from "yaml"
import { generate } from "../src/bin/internal/newService.js"
import { nameProblem } from "../src/bin/internal/serviceSpec.js"
import { parseYaml } from "../src/Config/internal/yaml.js"

const root = Path.resolve(import.meta.dirname, "..")
const tsx = Path.join(root, "node_modules/.bin/tsx")
const cli = Path.join(root, "src/bin/glam.ts")
const work = mkdtempSync(Path.join(tmpdir(), "glam-new-"))

afterAll(() => rmSync(work, { recursive: true, force: true }))

const glam = async (cwd: string, args: ReadonlyArray<string>) => {
  try {
    const { stderr, stdout } = await promisify(execFile)(tsx, [cli, ...args], {
      cwd,
      env: { PATH: process.env.PATH, TMPDIR: tmpdir() },
      timeout: 60_000
    })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failed = error as { readonly code: number; readonly stdout: string; readonly stderr: string }
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr }
  }
}

/** `glam new` in-process (the CLI's arguments already parsed): the service's directory, or the refusal. */
const generateIn = (
  parent: string,
  request: { readonly name: string; readonly port?: number; readonly title?: string; readonly description?: string }
) =>
  Effect.runPromise(
    generate({ port: 8000, ...request, parent }).pipe(
      Effect.map(({ directory }) => ({ _tag: "Written" as const, directory })),
      Effect.catchTag("NewServiceError", (error) => Effect.succeed({ _tag: "Refused" as const, error })),
      Effect.provide(NodeContext.layer)
    )
  )

const written = async (parent: string, request: Parameters<typeof generateIn>[1]): Promise<string> => {
  const result = await generateIn(parent, request)
  if (result._tag === "Refused") throw new Error(`glam new refused: ${result.error.message}`)
  return result.directory
}

const filesUnder = (dir: string): Array<string> =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => Path.relative(dir, Path.join(entry.parentPath, entry.name)).split(Path.sep).join("/"))
    .sort()

/** `name@range` words of the README's "Use it in a service" install commands: [runtime, development]. */
const readmeInstall = (): [Record<string, string>, Record<string, string>] => {
  const readme = readFileSync(Path.join(root, "README.md"), "utf8")
  const block = /^```sh title="install"\n([\s\S]*?)^```$/m.exec(readme)![1]!
  const commands = block.replace(/\\\n/g, " ").split("\n").filter((line) => line.trim().length > 0)
  const versions = (line: string) =>
    Object.fromEntries(
      line.trim().split(/\s+/).filter((word) => word.lastIndexOf("@") > 0).map((word) => {
        const at = word.lastIndexOf("@")
        return [word.slice(0, at), word.slice(at + 1)]
      })
    )
  return [versions(commands[0]!), versions(commands[1]!)]
}

describe("glam new", () => {
  it("writes a service: its files, names and versions, nothing left of the templates' placeholders", async () => {
    const cwd = Path.join(work, "ok")
    mkdirSync(cwd)
    const result = await glam(cwd, [
      "new",
      "order-service",
      "--port",
      "8005",
      "--title",
      "Orders \"API\"",
      "--description",
      "Takes orders: a `test` \\ service"
    ])
    expect(result.code, result.stderr).toBe(0)
    const dir = Path.join(cwd, "order-service")
    const files = filesUnder(dir)
    expect(files).toEqual([
      ".dockerignore",
      ".gitignore",
      "Dockerfile",
      "README.md",
      "compose.yaml",
      "config/services/order-service.yml",
      "config/shared.yml",
      "package.json",
      "src/api.ts",
      "src/app.ts",
      "src/domain.ts",
      "src/items.ts",
      "src/main.ts",
      "src/migrations.ts",
      "src/subscriber.ts",
      "test/items.test.ts",
      "tsconfig.build.json",
      "tsconfig.json",
      "vitest.config.ts"
    ])
    const read = (file: string) => readFileSync(Path.join(dir, file), "utf8")
    for (const file of files) expect(read(file), file).not.toMatch(/__[A-Z]+(?:_[A-Z]+)*__/)
    expect(result.stdout).toContain(`Created ${dir}`)

    const manifest = JSON.parse(read("package.json"))
    const [runtime, development] = readmeInstall()
    const { allowScripts, version } = JSON.parse(readFileSync(Path.join(root, "package.json"), "utf8"))
    expect(manifest).toMatchObject({ name: "order-service", private: true, type: "module" })
    // npm's install-script policy: the toolkit's own, decided for every dependency with an install script.
    expect(manifest.allowScripts).toEqual(allowScripts)
    expect(manifest.description).toBe("Takes orders: a `test` \\ service")
    expect(manifest.dependencies).toEqual({ "@glam/shared": `^${version}`, ...runtime })
    expect(manifest.devDependencies).toMatchObject(development)
    expect(Object.keys(manifest.devDependencies)).toEqual(expect.arrayContaining(["vitest", "@effect/vitest"]))

    // Names derived from the service name: variables ORDER_*, stream ORDER, subjects evt.order.*.
    expect(Yaml.parse(read("config/services/order-service.yml"))).toMatchObject({
      service: { name: "order-service" },
      http: { port: 8005 },
      database: { migrate_on_start: true }
    })
    expect(Yaml.parse(read("compose.yaml")).services.service.environment).toMatchObject({
      ORDER_DATABASE__HOST: "postgres",
      ORDER_NATS__SERVERS: "nats://nats:4222"
    })
    expect(read("src/domain.ts")).toContain(`Events.Streams.make("ORDER")`)
    expect(read("src/domain.ts")).toContain(`"order.item_created"`)
    // The title and description land in TypeScript strings escaped, in the README as written.
    expect(read("src/api.ts")).toContain(`.annotate(OpenApi.Title, "Orders \\"API\\"")`)
    expect(read("src/api.ts")).toContain(`.annotate(OpenApi.Description, "Takes orders: a \`test\` \\\\ service")`)
    expect(read("README.md")).toMatch(/^# Orders "API"\n\nTakes orders: a \\`test\\` \\\\ service\n/)
  }, 90_000)

  it("refuses an existing directory, leaving it as it was", async () => {
    const cwd = Path.join(work, "exists")
    mkdirSync(Path.join(cwd, "order-service"), { recursive: true })
    writeFileSync(Path.join(cwd, "order-service", "notes.txt"), "mine")
    const result = await glam(cwd, ["new", "order-service"])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(`glam: ${Path.join(cwd, "order-service")} already exists`)
    expect(filesUnder(cwd)).toEqual(["order-service/notes.txt"])
    expect(readFileSync(Path.join(cwd, "order-service", "notes.txt"), "utf8")).toBe("mine")
  }, 90_000)

  it("refuses an invalid name or option with a clear message, writing nothing", async () => {
    const cwd = Path.join(work, "invalid")
    mkdirSync(cwd)
    const name = await glam(cwd, ["new", "Order_Service"])
    expect(name.code).toBe(1)
    expect(name.stderr).toContain("glam: Invalid service name \"Order_Service\": use lowercase letters")
    const port = await glam(cwd, ["new", "order-service", "--port", "70000"])
    expect(port.code).toBe(1)
    expect(port.stderr).toContain("glam: --port must be an integer from 1 to 65535")
    // Decimal digits only: not read as 80 or 1000, and a fraction is refused naming the option.
    for (const typed of ["0x50", "1e3", "1.5", "0", "-1"]) {
      const refused = await glam(cwd, ["new", "order-service", "--port", typed])
      expect(refused.code, typed).toBe(1)
      expect(refused.stderr, typed).toContain(`glam: --port must be an integer from 1 to 65535, got "${typed}"`)
    }
    const title = await glam(cwd, ["new", "order-service", "--title", "two\nlines"])
    expect(title.code).toBe(1)
    expect(title.stderr).toContain("glam: --title: it holds U+000A, a control character or line break")
    expect(readdirSync(cwd)).toEqual([])
  }, 120_000)

  it("takes names that are npm package names and NATS tokens, and nothing else", () => {
    for (
      const ok of [
        "order-service",
        "a",
        "billing2",
        "ai-processing-service",
        "con-service",
        "com10",
        "x".repeat(63),
        "nats-bridge-service",
        "application-service",
        "logger"
      ]
    ) {
      expect(nameProblem(ok), ok).toBeUndefined()
    }
    const refused = [
      "",
      "Order",
      "order_service",
      "order.service",
      "order service",
      "-order",
      "order-",
      "order--service",
      "1order",
      "order>",
      "order*",
      "@scope/order",
      "http",
      "con",
      "prn",
      "aux",
      "nul",
      "com1",
      "lpt9",
      "x".repeat(64),
      // Prefixes the shared variables begin with (APP_ENV, NATS_USER, REDIS_URL, LOG_LEVEL, MQTT_BROKER_HOST, ...).
      "app-service",
      "nats",
      "redis-service",
      "log",
      "mqtt-broker",
      "jwt-secret-service"
    ]
    for (const bad of refused) expect(nameProblem(bad), JSON.stringify(bad)).toBeTypeOf("string")
  })

  it(
    "writes names that YAML reads as null or a boolean as strings: config and compose read back the name",
    async () => {
      const cwd = Path.join(work, "yaml-names")
      mkdirSync(cwd)
      for (const name of ["null", "true", "false", "yes", "no", "on", "off", "y", "n", "null-service"]) {
        const dir = await written(cwd, { name })
        const domain = name.replace(/-service$/, "")
        const prefix = domain.toUpperCase()
        // The toolkit's own loader (PyYAML's booleans: yes/no/on/off too), and YAML 1.2 and 1.1 for compose.
        const config = await Effect.runPromise(
          parseYaml(readFileSync(Path.join(dir, "config/services", `${name}.yml`), "utf8"))
        )
        expect(config.service, name).toEqual({ name, version: "0.1.0" })
        const composeText = readFileSync(Path.join(dir, "compose.yaml"), "utf8")
        for (const version of ["1.2", "1.1"] as const) {
          const compose = Yaml.parse(composeText, { version })
          expect(compose.services.postgres.environment.POSTGRES_DB, `${name} (YAML ${version})`).toBe(domain)
          expect(compose.services.service.environment[`${prefix}_DATABASE__NAME`], `${name} (YAML ${version})`)
            .toBe(domain)
        }
      }
    },
    90_000
  )

  it(
    "shows a title and description as typed: in the TypeScript, in package.json, and in the README's Markdown",
    async () => {
      const cwd = Path.join(work, "free-text")
      mkdirSync(cwd)
      const texts = [
        "Orders \"API\" 'v2' `code` ${x} \\ */ /* // end",
        "<!-- the rest of the README is hidden",
        "<b>bold</b> &amp; &#x41; <http://example.com>",
        "*emphasis* _also_ **strong** ~~struck~~ $math$",
        "[a link](http://example.com) ![an image](x.png) [^1]",
        "| a | table | row |",
        "C #",
        "# not a second heading",
        "- not a list",
        "+ nor this",
        "1. nor this",
        "12) nor this",
        "---",
        "> not a quote",
        "key: value # not a comment, & not * an ! anchor { [",
        "emoji \u{1F600}, right-to-left \u200F\u05E9\u05DC\u05D5\u05DD, accents \u00E4\u00F1"
      ]
      // CommonMark: a backslash before ASCII punctuation shows that character.
      const shown = (markdown: string) => markdown.replace(/\\([!-/:-@[-`{-~])/g, "$1")
      // Where a character of the text could start Markdown other than text, it is escaped.
      const unescaped = (markdown: string) =>
        /(?<!\\)[`*_[\]<>&#|~$]/.test(markdown.replace(/\\\\/g, "")) || /^(?:[-+=]|\d{1,9}[.)])/.test(markdown)
      for (const [index, text] of texts.entries()) {
        const dir = await written(cwd, { name: `text-${index + 1}-service`, title: text, description: text })
        const read = (file: string) => readFileSync(Path.join(dir, file), "utf8")
        const api = ts.createSourceFile("api.ts", read("src/api.ts"), ts.ScriptTarget.ES2022, true)
        const annotations: Array<string> = []
        const visit = (node: ts.Node): void => {
          if (
            ts.isCallExpression(node) && node.getChildAt(0).getText().endsWith(".annotate") &&
            ts.isStringLiteral(node.arguments[1]!)
          ) annotations.push(node.arguments[1].text)
          ts.forEachChild(node, visit)
        }
        visit(api)
        expect(annotations, text).toEqual([text, text])
        expect(JSON.parse(read("package.json")).description, text).toBe(text)
        const [heading, blank, paragraph, next] = read("README.md").split("\n")
        expect([blank, next], text).toEqual(["", ""])
        expect(heading!.startsWith("# "), text).toBe(true)
        for (const line of [heading!.slice(2), paragraph!]) {
          expect(shown(line), text).toBe(text)
          expect(unescaped(line), `${text}: ${line}`).toBe(false)
        }
      }
    },
    90_000
  )

  it(
    "takes a title or description of up to 200 characters and refuses the rest, naming the option and why",
    async () => {
      const cwd = Path.join(work, "text-limits")
      mkdirSync(cwd)
      // A long title without --description: the default description (the title and more) is not refused.
      const long = "T".repeat(200)
      const titled = await written(cwd, { name: "long-title-service", title: long })
      expect(JSON.parse(readFileSync(Path.join(titled, "package.json"), "utf8")).description)
        .toBe(`${long}, built on @glam/shared`)
      expect(readFileSync(Path.join(titled, "README.md"), "utf8").split("\n")[0]).toBe(`# ${long}`)
      // Characters, not UTF-16 code units: 200 emoji are 200 characters.
      const emoji = "\u{1F600}".repeat(200)
      const described = await written(cwd, { name: "emoji-service", title: emoji, description: emoji })
      expect(JSON.parse(readFileSync(Path.join(described, "package.json"), "utf8")).description).toBe(emoji)

      const refusals: ReadonlyArray<[{ readonly title?: string; readonly description?: string }, string]> = [
        [{ title: "T".repeat(201) }, "--title: it is 201 characters long, at most 200"],
        [{ description: "\u{1F600}".repeat(201) }, "--description: it is 201 characters long, at most 200"],
        [{ title: "   " }, "--title: it is empty or only spaces"],
        [{ description: "" }, "--description: it is empty or only spaces"],
        [{ title: "tab\there" }, "--title: it holds U+0009, a control character or line break"],
        [{ description: "carriage\rreturn" }, "--description: it holds U+000D, a control character or line break"],
        [{ description: "nul\0" }, "--description: it holds U+0000, a control character or line break"],
        [{ title: "line\u2028separator" }, "--title: it holds U+2028, a control character or line break"],
        [{ title: "lone \uD800 surrogate" }, "--title: it holds a lone surrogate U+D800"],
        [{ description: "lone \uDFFF" }, "--description: it holds a lone surrogate U+DFFF"],
        [{ title: "admin\u202E\u2066 // check" }, "--title: it holds U+202E, a bidirectional control"]
      ]
      for (const [options, message] of refusals) {
        const result = await generateIn(cwd, { name: "refused-service", ...options })
        expect(result._tag === "Refused" && result.error.message, JSON.stringify(options)).toContain(message)
      }
      expect(readdirSync(cwd).sort()).toEqual(["emoji-service", "long-title-service"])
    },
    90_000
  )
})
