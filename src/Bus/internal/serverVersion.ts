/**
 * What a NATS server supports, from the version it announces (`nc.info.version`). The version is read when it
 * matters, not once: after a reconnect the client may be talking to another server of the cluster.
 *
 * @internal
 */

/**
 * Whether `version` ("2.10.4", "2.11.0-RC.1") is at least `major.minor.patch`; an unknown or unreadable version is
 * not (a pre-release counts as its release).
 *
 * @internal
 */
const atLeast = (version: string | undefined, major: number, minor: number, patch: number): boolean => {
  const parts = version === undefined ? null : /^v?(\d+)\.(\d+)\.(\d+)/.exec(version)
  if (parts === null) return false
  const [, a, b, c] = parts.map(Number) as [number, number, number, number]
  return a !== major ? a > major : b !== minor ? b > minor : c >= patch
}

/**
 * Whether the server reads the reason of `+TERM <reason>` (nats-server 2.10.4 and later). An older server ignores
 * the whole acknowledgement, and the message it was meant to stop is redelivered until `max_deliver`.
 *
 * @internal
 */
export const termTakesReason = (version: string | undefined): boolean => atLeast(version, 2, 10, 4)

/**
 * Whether a consumer can filter on several subjects (`filter_subjects`, nats-server 2.10.0 and later).
 *
 * @internal
 */
export const filterSubjectsSupported = (version: string | undefined): boolean => atLeast(version, 2, 10, 0)
