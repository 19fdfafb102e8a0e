/**
 * Writes the AsyncAPI 3 document of the whole event catalogue to `docs/asyncapi.json` (`npm run asyncapi`).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as AsyncApi from "../src/Events/AsyncApi.js"
import * as EventCatalogue from "../src/Events/EventCatalogue.js"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { version: string }
const document = AsyncApi.unsafeMake(EventCatalogue.definitions, {
  title: "GLAM events",
  version: pkg.version,
  streams: EventCatalogue.streams
})
const out = path.join(root, "docs", "asyncapi.json")
fs.mkdirSync(path.dirname(out), { recursive: true })
fs.writeFileSync(out, JSON.stringify(document, null, 2) + "\n")
console.log(`wrote ${path.relative(root, out)}: ${Object.keys(document.channels).length} channels`)
