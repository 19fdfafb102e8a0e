/**
 * Topic patterns: MQTT topic filters whose single-level wildcards may be named (`devices/{device_id}/data`).
 *
 * A pattern is split on `/` into levels. A level is `{name}` (one level, captured under `name`), `+` (one level,
 * not captured), `#` (zero or more levels, the last level only) or literal text without `+`, `#`, `{`, `}` or a
 * character MQTT topics cannot carry (below). Its MQTT filter replaces each `{name}` with `+`.
 *
 * MQTT topics are UTF-8 without NUL and without surrogate code points, and should hold no control character and no
 * noncharacter. Mosquitto enforces all of it: a PUBLISH or SUBSCRIBE whose topic holds a control character (U+0001 to
 * U+001F, U+007F to U+009F) or a noncharacter (U+FFFE, U+FDD0...) ends the client's connection, and MQTT.js sends
 * the unacknowledged PUBLISH again on each reconnection, so the connection never stays up. A lone surrogate, which
 * JavaScript strings can hold, would be sent as U+FFFD, naming another topic. Such text is refused before anything
 * is sent.
 *
 * @internal
 */

/** @internal */
export type Level =
  | { readonly _tag: "Literal"; readonly text: string }
  | { readonly _tag: "Param"; readonly name: string }
  | { readonly _tag: "Single" }
  | { readonly _tag: "Multi" }

/** @internal */
export interface Pattern {
  readonly pattern: string
  readonly levels: ReadonlyArray<Level>
  /** The MQTT subscription filter. */
  readonly filter: string
  /** The names of the captured levels, in order. */
  readonly params: ReadonlyArray<string>
  /** Whether the pattern names one topic once its parameters are given (no `+` or `#`). */
  readonly publishable: boolean
}

const paramName = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/
// Characters no level of a topic name may hold: wildcards, and the characters MQTT topics cannot carry (above):
// controls (NUL among them), lone surrogates, noncharacters.
const forbiddenInName = /[+#\p{Cc}\p{Cs}\p{Noncharacter_Code_Point}]/u
const forbiddenInLiteral = /[+#{}\p{Cc}\p{Cs}\p{Noncharacter_Code_Point}]/u
/** How the characters a topic cannot carry are named in a reason. */
const unsendable = "a control character, lone surrogate or noncharacter"

/**
 * Whether a text holds a character no MQTT topic can carry (see the module's description), or `/`, `+`, `#`: a text
 * that cannot be one level of a topic or a filter.
 *
 * @internal
 */
export const isLevelText = (text: string): boolean =>
  text.length > 0 && !text.includes("/") && !forbiddenInName.test(text)

/** The largest topic MQTT can carry: its length is a 16-bit count of UTF-8 bytes. */
const maxTopicBytes = 65_535

/**
 * Parses a pattern; a string says why it is not one.
 *
 * @internal
 */
export const parse = (pattern: string): Pattern | string => {
  if (pattern.length === 0) return "is empty"
  if (pattern.startsWith("$share/")) return "is a shared subscription: give the topic, and `share` in the options"
  const parts = pattern.split("/")
  const levels: Array<Level> = []
  const params: Array<string> = []
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!
    if (part === "#") {
      if (i !== parts.length - 1) return "has `#` before its last level"
      levels.push({ _tag: "Multi" })
      continue
    }
    if (part === "+") {
      levels.push({ _tag: "Single" })
      continue
    }
    const param = paramName.exec(part)
    if (param !== null) {
      const name = param[1]!
      if (params.includes(name)) return `names the parameter ${name} twice`
      params.push(name)
      levels.push({ _tag: "Param", name })
      continue
    }
    if (forbiddenInLiteral.test(part)) {
      return `has the level ${JSON.stringify(part)}: a level is {name}, +, # or text without + # { } or ${unsendable}`
    }
    levels.push({ _tag: "Literal", text: part })
  }
  const filter = levels.map((level) => level._tag === "Literal" ? level.text : level._tag === "Multi" ? "#" : "+").join(
    "/"
  )
  if (Buffer.byteLength(filter, "utf8") > maxTopicBytes) return `is longer than ${maxTopicBytes} bytes`
  const publishable = levels.every((level) => level._tag === "Literal" || level._tag === "Param")
  return { pattern, levels, filter, params, publishable }
}

/**
 * The parameters of a topic name the pattern matches, or `undefined` when it does not match. As MQTT has it, a
 * wildcard in the first level does not match a topic that starts with `$`, and `#` matches its parent level too
 * (`a/#` matches `a`).
 *
 * @internal
 */
export const match = (self: Pattern, topic: string): Record<string, string> | undefined => {
  const levels = self.levels
  if (topic.startsWith("$") && levels[0] !== undefined && levels[0]._tag !== "Literal") return undefined
  const parts = topic.split("/")
  const params: Record<string, string> = {}
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!
    if (level._tag === "Multi") return params
    const part = parts[i]
    if (part === undefined) return undefined
    switch (level._tag) {
      case "Literal":
        if (part !== level.text) return undefined
        break
      case "Param":
        params[level.name] = part
        break
      case "Single":
        break
    }
  }
  return parts.length === levels.length ? params : undefined
}

/**
 * The topic name for the given parameters, or why there is none: the pattern has `+` or `#`, a parameter is
 * missing or empty, or a value holds `/`, `+`, `#` (it would change which topic is meant) or a character MQTT topics
 * cannot carry.
 *
 * @internal
 */
export const format = (
  self: Pattern,
  params: { readonly [name: string]: string }
): { readonly _tag: "Topic"; readonly topic: string } | { readonly _tag: "Invalid"; readonly reason: string } => {
  if (!self.publishable) return { _tag: "Invalid", reason: `${self.pattern} has a wildcard: it names no one topic` }
  let topic = ""
  for (let i = 0; i < self.levels.length; i++) {
    const level = self.levels[i]!
    let text: string
    if (level._tag === "Param") {
      const value = params[level.name]
      if (typeof value !== "string" || value.length === 0) {
        return { _tag: "Invalid", reason: `the parameter ${level.name} of ${self.pattern} is missing or empty` }
      }
      if (value.includes("/") || forbiddenInName.test(value)) {
        return {
          _tag: "Invalid",
          reason: `the parameter ${level.name} of ${self.pattern} holds /, +, # or ${unsendable}: ${
            JSON.stringify(value)
          }`
        }
      }
      text = value
    } else {
      text = level._tag === "Literal" ? level.text : ""
    }
    topic = i === 0 ? text : `${topic}/${text}`
  }
  if (Buffer.byteLength(topic, "utf8") > maxTopicBytes) {
    return { _tag: "Invalid", reason: `the topic is longer than ${maxTopicBytes} bytes` }
  }
  return { _tag: "Topic", topic }
}

/**
 * Whether a string is a topic name a client may publish to: non-empty, no wildcard, no character MQTT topics cannot
 * carry, at most 65535 bytes.
 *
 * @internal
 */
export const isTopicName = (topic: string): boolean =>
  topic.length > 0 && !forbiddenInName.test(topic) && Buffer.byteLength(topic, "utf8") <= maxTopicBytes

/**
 * Why a text is not a prefix of topics (`devices`, `site-1/meters`), or `undefined`: levels of text without `+`,
 * `#`, `{`, `}` or a character MQTT topics cannot carry, none empty (no leading, trailing or doubled `/`).
 *
 * @internal
 */
export const invalidPrefix = (prefix: string): string | undefined => {
  if (prefix.length === 0) return "is empty"
  if (prefix.startsWith("/") || prefix.endsWith("/")) return "starts or ends with /"
  const levels = prefix.split("/")
  if (levels.includes("")) return "has an empty level (//)"
  const bad = levels.find((level) => forbiddenInLiteral.test(level))
  return bad === undefined
    ? undefined
    : `has the level ${JSON.stringify(bad)}: a level is text without + # { } or ${unsendable}`
}

/**
 * Whether every topic `other` matches, `self` matches too (`a/#` covers `a/+/c`, which covers `a/b/c`): a filter
 * covers itself, `#` and `+/#` cover each other; a wildcard first level does not cover a literal first level
 * starting with `$`.
 *
 * @internal
 */
export const covers = (self: Pattern, other: Pattern): boolean => {
  const outer = self.levels
  const inner = other.levels
  for (let i = 0; i < outer.length; i++) {
    const level = outer[i]!
    const covered = inner[i]
    if (level._tag === "Literal") {
      if (covered === undefined || covered._tag !== "Literal" || covered.text !== level.text) return false
      continue
    }
    if (i === 0 && covered !== undefined && covered._tag === "Literal" && covered.text.startsWith("$")) return false
    // `#` matches the level above it too (`a/#` matches `a`), so it covers a filter that ends where it starts.
    if (level._tag === "Multi") return true
    // A topic has at least one level: `+/#` matches every topic `#` does.
    if (covered?._tag === "Multi") return i === 0 && outer[1]?._tag === "Multi"
    if (covered === undefined) return false
  }
  return inner.length === outer.length
}
