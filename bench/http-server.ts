/**
 * A server of the `http` benchmark in a process of its own: `node .bench-build/bench/http-server.js <kind> [root]`
 * with an IPC channel (`HttpBench.runConcurrent` forks it), where `kind` is `full` (the toolkit's `Http.serve`
 * stack, of the build at `root` when given: `HttpBench.loadToolkit`), `bare` (bare `@effect/platform`), `work`
 * (bare `@effect/platform` with the peers' work: `PlatformWork`, checked to answer as the toolkit does before it
 * reports its port) or `node` (plain `node:http`), all on `HttpBench.routePath` on 127.0.0.1, port 0.
 *
 * It sends `{ port }` once it listens; to each `"mark"` it answers with its CPU time so far (user + system, µs,
 * `process.cpuUsage`) and the requests it has received, so that the benchmark reads both over the same window for
 * every server; on `"stop"` it closes its server and exits.
 */
import * as NodeHttp from "node:http"
import type { AddressInfo } from "node:net"
import * as HttpBench from "./HttpBench.js"

const kind = process.argv[2]

const main = async (): Promise<void> => {
  let requests = 0
  const observe = (server: NodeHttp.Server) => server.on("request", () => requests++)
  let port: number
  let close: () => Promise<void>
  if (kind === "full" || kind === "bare") {
    const root = process.argv[3]
    const runtime = kind === "bare"
      ? HttpBench.bareServer(observe)
      : HttpBench.toolkitServer(observe, root === undefined ? undefined : await HttpBench.loadToolkit(root))
    port = await HttpBench.portOf(runtime)
    close = () => runtime.dispose()
  } else if (kind === "work") {
    const [PlatformWork, PeerWork] = await Promise.all([import("./PlatformWork.js"), import("./PeerWork.js")])
    const runtime = PlatformWork.workServer(observe)
    port = await HttpBench.portOf(runtime)
    close = () => runtime.dispose()
    await PeerWork.checkWork("work", HttpBench.urlOf(port))
  } else if (kind === "node") {
    const server = observe(NodeHttp.createServer(HttpBench.plainHandler))
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    port = (server.address() as AddressInfo).port
    close = () => new Promise((resolve) => server.close(() => resolve()))
  } else {
    throw new Error(`http-server: unknown kind ${kind}`)
  }
  process.on("message", (message) => {
    if (message === "mark") {
      const cpu = process.cpuUsage()
      const mark: HttpBench.ServerMark = { cpuUs: cpu.user + cpu.system, requests, at: performance.now() }
      process.send!(mark)
    } else if (message === "stop") {
      void close().then(() => process.exit(0))
    }
  })
  process.send!({ port })
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
