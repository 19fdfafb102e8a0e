/**
 * The trusted proxies of `http.trusted_proxies` compiled into one `net.BlockList`, and the client address of a
 * request behind them (`RequestContext.makeTrustedProxies`, `RequestContext.clientIp`).
 *
 * @internal
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Cause from "effect/Cause"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as net from "node:net"
import type * as RequestContext from "../RequestContext.js"

/** @internal */
export const TypeId: RequestContext.TrustedProxiesTypeId = Symbol.for(
  "@glam/shared/Http/TrustedProxies"
) as RequestContext.TrustedProxiesTypeId

const familyOf = (version: number): "ipv4" | "ipv6" => version === 4 ? "ipv4" : "ipv6"

const prefixLength = /^\d{1,3}$/

/** Adds one entry (an address or a CIDR range) to `list`, or says why it is not one. */
const addEntry = (list: net.BlockList, entry: string): string | undefined => {
  const text = entry.trim()
  if (text === "") return "an empty entry"
  const slash = text.indexOf("/")
  const address = slash === -1 ? text : text.slice(0, slash)
  const version = net.isIP(address)
  if (version === 0) return slash === -1 ? "not an IP address" : "not an IP address before the /"
  const family = familyOf(version)
  if (slash === -1) {
    list.addAddress(address, family)
    return undefined
  }
  const bits = text.slice(slash + 1)
  const max = version === 4 ? 32 : 128
  if (!prefixLength.test(bits) || Number(bits) > max) {
    return `the prefix length of an IPv${version} range is 0 to ${max}`
  }
  list.addSubnet(address, Number(bits), family)
  return undefined
}

/**
 * The trusted proxies of `entries`, or the message naming every entry that is neither an address nor a CIDR range.
 *
 * @internal
 */
export const make = (entries: ReadonlyArray<string>): Either.Either<RequestContext.TrustedProxies, string> => {
  const list = new net.BlockList()
  const problems: Array<string> = []
  for (const entry of entries) {
    const problem = addEntry(list, entry)
    if (problem !== undefined) problems.push(`${JSON.stringify(entry)} (${problem})`)
  }
  if (problems.length > 0) {
    return Either.left(`Expected IP addresses or CIDR ranges (10.0.0.0/8, fd00::/8), got ${problems.join(", ")}`)
  }
  const contains = entries.length === 0 ? () => false : (address: string): boolean => {
    const version = net.isIP(address)
    return version !== 0 && list.check(address, familyOf(version))
  }
  return Either.right({ [TypeId]: TypeId, entries: [...entries], contains })
}

/**
 * {@link make}, throwing an `IllegalArgumentException` with its message for an invalid entry.
 *
 * @internal
 */
export const unsafeMake = (entries: ReadonlyArray<string>): RequestContext.TrustedProxies =>
  Either.getOrThrowWith(make(entries), (problem) => new Cause.IllegalArgumentException(problem))

/** Whether `u` is compiled trusted proxies (not a list of entries). @internal */
export const isTrustedProxies = (u: unknown): u is RequestContext.TrustedProxies =>
  typeof u === "object" && u !== null && TypeId in u

const bracketed = /^\[([^\]]*)\](?::(\d{1,5}))?$/
const ipv4WithPort = /^([0-9.]+):(\d{1,5})$/

const isPort = (text: string | undefined): boolean => text === undefined || Number(text) <= 65_535

/**
 * The address of an `X-Forwarded-For` hop as proxies write it: an IPv6 address in brackets (`[2001:db8::1]:443`)
 * or an IPv4 address with a port (`203.0.113.7:5050`) is the address without the port; anything else is the hop
 * itself (an address, or text that is none and is never trusted).
 *
 * @internal
 */
export const hopAddress = (hop: string): string => {
  const v6 = bracketed.exec(hop)
  if (v6 !== null && net.isIPv6(v6[1]!) && isPort(v6[2])) return v6[1]!
  const v4 = ipv4WithPort.exec(hop)
  if (v4 !== null && net.isIPv4(v4[1]!) && isPort(v4[2])) return v4[1]!
  return hop
}

/**
 * The client address of a request from `peer` with the `X-Forwarded-For` value `forwarded` (the rules of
 * `RequestContext.clientIp`).
 *
 * @internal
 */
export const clientIp = (
  peer: string,
  forwarded: string | undefined,
  trusted: RequestContext.TrustedProxies
): string => {
  if (forwarded === undefined || !trusted.contains(peer)) return peer
  const hops = forwarded.split(",").map((hop) => hopAddress(hop.trim())).filter((hop) => hop !== "")
  for (let i = hops.length - 1; i >= 0; i--) {
    if (!trusted.contains(hops[i]!)) return hops[i]!
  }
  return hops[0] ?? peer
}

/** The 8 groups of an IPv6 address (checked by `net.isIPv6`), an embedded IPv4 tail as its 2 groups. */
const groupsOf = (address: string): Array<number> => {
  const parts = (text: string): Array<number> =>
    text === "" ? [] : text.split(":").flatMap((part) => {
      if (!part.includes(".")) return [parseInt(part, 16)]
      const [a, b, c, d] = part.split(".").map(Number) as [number, number, number, number]
      return [(a << 8) | b, (c << 8) | d]
    })
  const gap = address.indexOf("::")
  if (gap === -1) return parts(address)
  const head = parts(address.slice(0, gap))
  const tail = parts(address.slice(gap + 2))
  return [...head, ...Array<number>(8 - head.length - tail.length).fill(0), ...tail]
}

/**
 * The rate limit key of a client address: an IPv4 address as it is, the IPv4-mapped IPv6 form of one
 * (`::ffff:203.0.113.7`) as that IPv4 address, another IPv6 address as its /64 (`2001:db8:1:2::/64`: a client is
 * given a /64 and can take a new address in it for each request); text that is no address as it is.
 *
 * @internal
 */
export const rateLimitKey = (address: string): string => {
  // IPv4 addresses and the text of no address are the common case: no IPv6 parsing for them.
  if (!address.includes(":")) return address
  const zone = address.indexOf("%")
  const text = zone === -1 ? address : address.slice(0, zone)
  if (!net.isIPv6(text)) return address
  const groups = groupsOf(text.toLowerCase())
  if (
    groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff
  ) {
    return `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`
  }
  return `${groups.slice(0, 4).map((group) => group.toString(16)).join(":")}::/64`
}

/**
 * The client address of `request` (`RequestContext.clientIp`): its peer and its `X-Forwarded-For` read with
 * {@link clientIp}; `trusted` compiled, or a list of entries compiled on each call (an invalid one throws).
 *
 * @internal
 */
export const requestClientIp = (
  request: HttpServerRequest.HttpServerRequest,
  trusted: RequestContext.TrustedProxies | ReadonlyArray<string>
): string => {
  const forwarded = request.headers["x-forwarded-for"]
  return clientIp(
    Option.getOrElse(request.remoteAddress, () => "unknown"),
    typeof forwarded === "string" ? forwarded : undefined,
    isTrustedProxies(trusted) ? trusted : unsafeMake(trusted)
  )
}
