/**
 * `glam new`: renders the service template (`templates/service/` of the package) for a {@link ServiceSpec} and
 * writes it into a new directory. The directory is created exclusively, so an existing one is never written
 * into; a failure part-way removes what was written.
 *
 * @internal
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Effect from "effect/Effect"
import { fileURLToPath } from "node:url"
import { development, installScripts, runtime } from "./dependencies.js"
import * as ServiceSpec from "./serviceSpec.js"

/** A file of the new service: its path relative to the service's directory, and its text. @internal */
interface GeneratedFile {
  readonly path: string
  readonly content: string
}

// The package's own files: the same relative place from src/bin/internal (tsx) and dist/bin/internal (built).
const packageRoot = fileURLToPath(new URL("../../../", import.meta.url))

/** Template files whose names npm or git would treat specially are stored under another name. */
const renamed: Readonly<Record<string, string>> = { "dockerignore": ".dockerignore", "gitignore": ".gitignore" }

const placeholders = (spec: ServiceSpec.ServiceSpec): Readonly<Record<string, string>> => ({
  SERVICE_NAME: spec.name,
  SERVICE_TITLE: spec.title,
  SERVICE_DESCRIPTION: spec.description,
  HTTP_PORT: String(spec.port),
  ENV_PREFIX: spec.envPrefix,
  STREAM_NAME: spec.stream,
  EVENT_DOMAIN: spec.domain
})

/** The placeholders that hold what the user typed (`--title`, `--description`); the others are checked names. */
const freeText: ReadonlySet<string> = new Set(["SERVICE_TITLE", "SERVICE_DESCRIPTION"])

/**
 * One line of text as Markdown shows it as typed (CommonMark, GitHub): a backslash before every character that
 * starts emphasis, code, a link, HTML or an entity, a table cell, strikethrough, math or a closing `#` of a heading,
 * and before what makes a line a list item or a thematic break (`- `, `+ `, `1. `, `---`).
 */
const markdownText = (text: string): string =>
  text.replace(/[\\`*_[\]<>&#|~$]/g, "\\$&").replace(/^[-+=]/, "\\$&").replace(/^(\d{1,9})([.)])/, "$1\\$2")

type Escape = (key: string, value: string) => string

// In code and data files placeholders sit inside double-quoted strings: a JSON string's escapes suit all of them.
// In Markdown the names are plain tokens (some inside code spans, where a backslash would show); free text is escaped.
const escaperFor = (path: string): Escape =>
  /\.(ts|json|ya?ml)$/.test(path)
    ? (_, value) => JSON.stringify(value).slice(1, -1)
    : /\.md$/.test(path)
    ? (key, value) => freeText.has(key) ? markdownText(value) : value
    : (_, value) => value

const substitute = (text: string, values: Readonly<Record<string, string>>, escape: Escape) =>
  text.replace(/__([A-Z]+(?:_[A-Z]+)*)__/g, (match, key: string) => {
    const value = values[key]
    return value === undefined ? match : escape(key, value)
  })

/** The `package.json` of the new service: the toolkit and its peers, the tools, the scripts. @internal */
const packageJson = (spec: ServiceSpec.ServiceSpec, toolkitVersion: string): string =>
  JSON.stringify(
    {
      name: spec.name,
      version: "0.1.0",
      private: true,
      description: spec.description,
      type: "module",
      engines: { node: ">=20.18.1" },
      scripts: {
        build: "tsc -p tsconfig.build.json",
        typecheck: "tsc --noEmit",
        test: "vitest run",
        start: "node dist/main.js"
      },
      dependencies: { "@glam/shared": `^${toolkitVersion}`, ...runtime },
      devDependencies: development,
      allowScripts: installScripts
    },
    null,
    2
  ) + "\n"

/** Renders the template files for a service: paths and placeholders substituted, `package.json` added. @internal */
const render = (
  spec: ServiceSpec.ServiceSpec,
  templates: ReadonlyArray<GeneratedFile>,
  toolkitVersion: string
): ReadonlyArray<GeneratedFile> => {
  const values = placeholders(spec)
  const files = templates.map(({ content, path }) => {
    const segments = path.split("/").map((segment) => renamed[segment] ?? substitute(segment, values, (_, v) => v))
    return { path: segments.join("/"), content: substitute(content, values, escaperFor(path)) }
  })
  return [{ path: "package.json", content: packageJson(spec, toolkitVersion) }, ...files]
}

const templatesMissing = (cause: unknown) =>
  new ServiceSpec.NewServiceError({
    reason: "TemplatesMissing",
    message: `The service template of @glam/shared cannot be read (${String(cause)}): reinstall the package`
  })

const toPosix = (path: string) => path.split("\\").join("/")

/** The template files under `templates/service/` and the toolkit's version, from the package itself. @internal */
const loadTemplates: Effect.Effect<
  { readonly files: ReadonlyArray<GeneratedFile>; readonly version: string },
  ServiceSpec.NewServiceError,
  FileSystem.FileSystem | Path.Path
> = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const dir = path.join(packageRoot, "templates", "service")
  const entries = yield* fs.readDirectory(dir, { recursive: true })
  const read = yield* Effect.forEach(
    [...entries].sort(),
    (entry) =>
      Effect.flatMap(fs.stat(path.join(dir, entry)), (info) =>
        info.type === "File"
          ? Effect.map(fs.readFileString(path.join(dir, entry)), (content) => [{ path: toPosix(entry), content }])
          : Effect.succeed([]))
  )
  const files = read.flat()
  const manifest = yield* fs.readFileString(path.join(packageRoot, "package.json"))
  const { version } = JSON.parse(manifest) as { readonly version: string }
  return { files, version }
}).pipe(Effect.mapError(templatesMissing))

/** Writes the files into `target`, which must not exist; on a failure, removes what was written. @internal */
const write = (
  target: string,
  files: ReadonlyArray<GeneratedFile>
): Effect.Effect<void, ServiceSpec.NewServiceError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const failed = (cause: unknown) =>
      new ServiceSpec.NewServiceError({ reason: "WriteFailed", message: `Cannot write ${target}: ${String(cause)}` })
    // Exclusive: fails when anything (a directory, a file) already has the name, even one created a moment ago.
    yield* fs.makeDirectory(target).pipe(
      Effect.mapError((error) =>
        error._tag === "SystemError" && error.reason === "AlreadyExists" ? exists(target) : failed(error)
      )
    )
    yield* Effect.forEach(files, (file) => {
      const destination = path.join(target, ...file.path.split("/"))
      return fs.makeDirectory(path.dirname(destination), { recursive: true }).pipe(
        Effect.zipRight(fs.writeFileString(destination, file.content)),
        Effect.mapError(failed)
      )
    }, { discard: true }).pipe(Effect.onError(() => Effect.ignore(fs.remove(target, { recursive: true }))))
  })

const exists = (target: string) =>
  new ServiceSpec.NewServiceError({
    reason: "DirectoryExists",
    message: `${target} already exists: choose another name, or move it away first (nothing was written)`
  })

/** Options of {@link generate}: the request, and the directory the service's folder is created in. @internal */
interface GenerateOptions {
  readonly name: string
  /** A number, or the text typed on the command line. */
  readonly port: number | string
  readonly title?: string | undefined
  readonly description?: string | undefined
  readonly parent: string
}

/** Checks the request, then writes the new service into `<parent>/<name>`; nothing is written on a refusal. @internal */
export const generate = (
  options: GenerateOptions
): Effect.Effect<
  { readonly directory: string; readonly files: ReadonlyArray<GeneratedFile> },
  ServiceSpec.NewServiceError,
  FileSystem.FileSystem | Path.Path
> =>
  Effect.gen(function*() {
    const spec = yield* ServiceSpec.make(options)
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const directory = path.resolve(options.parent, spec.name)
    if (yield* Effect.orElseSucceed(fs.exists(directory), () => false)) return yield* exists(directory)
    const templates = yield* loadTemplates
    const files = render(spec, templates.files, templates.version)
    yield* write(directory, files)
    return { directory, files }
  })
