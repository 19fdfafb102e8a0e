/**
 * Unix socket paths of the servers the tests start (PostgreSQL's `-k` directory holds `.s.PGSQL.<port>`): a socket's
 * path fits in `sockaddr_un.sun_path`, 104 bytes on macOS and the BSDs, 108 on Linux, its closing NUL included. The
 * run's temporary directory (runTmpdir.ts) is made under the system's when the longest socket path under it fits,
 * else under `/tmp`: macOS gives each user a `TMPDIR` of some 50 bytes (`/var/folders/xx/.../T/`), too long for it.
 */
import * as path from "node:path"

/** The name of the run's temporary directory begins with it (`mkdtemp` adds 6 characters). */
export const runDirPrefix = "glam-test-run-"

/** The name of the directory of a test's PostgreSQL (data, log, socket) begins with it. */
export const postgresDirPrefix = "glam-reliability-pg-"

/** The name of PostgreSQL's socket on a port. */
export const postgresSocketName = (port: number): string => `.s.PGSQL.${port}`

/** The most bytes of a unix socket's path, without the closing NUL. */
export const maxSocketPathBytes = (platform: NodeJS.Platform = process.platform): number =>
  (platform === "linux" ? 108 : 104) - 1

/** The longest socket path under the run's temporary directory, relative to the directory the run's is made in. */
const longestUnderRun = path.posix.join(
  `${runDirPrefix}XXXXXX`,
  `${postgresDirPrefix}XXXXXX`,
  postgresSocketName(65535)
)

/**
 * The directory to make the run's temporary directory in: the system's (`tmpdir`) when the longest socket path
 * under the run's fits, else `/tmp`.
 */
export const runDirBase = (tmpdir: string, platform: NodeJS.Platform = process.platform): string =>
  Buffer.byteLength(path.posix.join(tmpdir, longestUnderRun)) <= maxSocketPathBytes(platform) ? tmpdir : "/tmp"

/** The path of the socket `name` in `dir`; an error that says the limit and the path when it is too long. */
export const socketPath = (dir: string, name: string, platform: NodeJS.Platform = process.platform): string => {
  const socket = path.posix.join(dir, name)
  const bytes = Buffer.byteLength(socket)
  const max = maxSocketPathBytes(platform)
  if (bytes > max) {
    throw new Error(
      `The unix socket path ${socket} is ${bytes} bytes, over the ${max} of ${platform}'s sun_path: ` +
        `run the tests with a shorter TMPDIR`
    )
  }
  return socket
}
