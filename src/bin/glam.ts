#!/usr/bin/env node
/**
 * `glam new <service-name> [--port 8000] [--title ...] [--description ...]`: writes a new service on the toolkit
 * into `./<service-name>` (what seed 001's `generate_service.py` did for the Python services): an HttpApi resource
 * on a repository with its migration, an event through the outbox and its subscriber, a test on the embedded
 * defaults, configuration, a README, a Dockerfile and a compose file with PostgreSQL and NATS.
 *
 * @since 0.2.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { generate } from "./internal/newService.js"
import { teardownOf } from "./internal/teardown.js"

const serviceName = Args.text({ name: "service-name" }).pipe(
  Args.withDescription(
    "Name of the service (order-service): lowercase letters, digits and single hyphens, starting with a letter, " +
      "at most 64 characters, not a Node.js core module, a name Windows reserves (con, nul, com1) nor one whose " +
      "variable prefix starts a shared variable (app-service: APP_ENV)"
  )
)
// Read as text and checked by glam new, which names --port in its refusal (@effect/cli's own integer reads 0x50
// and 1e3 as numbers and refuses 1.5 without naming the option).
const port = Options.text("port").pipe(
  Options.withPseudoName("port"),
  Options.withDefault("8000"),
  Options.withDescription("HTTP port of the service (http.port): an integer from 1 to 65535, in decimal")
)
const title = Options.text("title").pipe(
  Options.optional,
  Options.withDescription(
    "Title of the service (README, OpenAPI): one line of at most 200 characters, shown as typed; " +
      "default: from the name"
  )
)
const description = Options.text("description").pipe(
  Options.optional,
  Options.withDescription(
    "Description (package.json, README, OpenAPI): one line of at most 200 characters, shown as typed; " +
      "default: the title, built on @glam/shared"
  )
)

const newService = Command.make("new", { serviceName, port, title, description }, (args) =>
  Effect.gen(function*() {
    const { directory, files } = yield* generate({
      name: args.serviceName,
      port: args.port,
      title: Option.getOrUndefined(args.title),
      description: Option.getOrUndefined(args.description),
      parent: process.cwd()
    })
    yield* Console.log(`Created ${directory}:`)
    for (const file of files) yield* Console.log(`  ${file.path}`)
    yield* Console.log(
      `\nNext:\n  cd ${args.serviceName}\n  npm install\n  npm test\n  npm run build && npm start` +
        `\nor with PostgreSQL and NATS: docker compose up --build`
    )
  })).pipe(Command.withDescription("Write a new service on @glam/shared into ./<service-name>"))

const command = Command.make("glam").pipe(
  Command.withDescription("Tools of @glam/shared"),
  Command.withSubcommands([newService])
)

const cli = Command.run(command, { name: "glam", version: "0.2.0" })

cli(process.argv).pipe(
  // @effect/cli has printed its own usage errors; a refusal is one line on stderr; either exits with code 1, an
  // interruption with code 130.
  Effect.tapError((error) =>
    ValidationError.isValidationError(error)
      ? Effect.void
      : Console.error(`glam: ${"message" in error ? error.message : String(error)}`)
  ),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    teardown: teardownOf("glam", "the service's directory may be incomplete; remove it and run glam new again")
  })
)
