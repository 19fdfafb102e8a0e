/**
 * JetStream streams: one per domain, holding `cmd.<domain>.>` and `evt.<domain>.>`.
 *
 * The ten streams of the Python `Streams` enum, the service-to-stream map of `mappers.py`, and inference of a
 * subject's stream. The Python code configured `cmd.<domain>.*`, which misses its own 4- and 5-token subjects
 * (`evt.notification.email.sent`); here the subjects end in `>`.
 *
 * Applications add streams with an immutable {@link StreamRegistry} (`Streams.registry(...)`) passed to the
 * definitions that need it, or by naming the stream on the definition, and declare them to the Bus
 * (`makeGlamLive({ streams })`, or `nats.streams`). There is no global mutable registry: definitions are
 * module-level constants, and whether one is valid must not depend on import order.
 *
 * @since 0.1.0
 */
import * as Option from "effect/Option"
import { ValidationError } from "../Errors/Errors.js"
import { quoteValue } from "../internal/text.js"

/**
 * A JetStream stream: its name and the subjects it holds.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamDefinition {
  /** The stream name, e.g. `CATALOG`. */
  readonly name: string
  /** The subject token after `cmd.`/`evt.` that routes to this stream, e.g. `catalog`. */
  readonly domain: string
  /** NATS subject filters the stream holds, e.g. `["cmd.catalog.>", "evt.catalog.>"]`. */
  readonly subjects: ReadonlyArray<string>
  readonly description: string | undefined
}

const tokenPattern = /^[A-Za-z0-9_-]+$/

/**
 * The longest stream name JetStream takes (nats-server refuses a longer one: "stream name is too long, maximum
 * allowed is 255").
 *
 * @since 0.2.0
 * @category names
 */
export const maxNameLength = 255

/**
 * Why JetStream would refuse a stream name, `undefined` for a name it takes. Names are ASCII letters, digits, `_`
 * and `-`, at most {@link maxNameLength} characters: the server refuses whitespace, `.`, `*`, `>` and path
 * separators, and the name is a directory of the file store.
 *
 * @since 0.2.0
 * @category names
 */
export const nameRefusal = (name: string): string | undefined =>
  name.length === 0
    ? "is empty"
    : name.length > maxNameLength
    ? `is ${name.length} characters long, more than the ${maxNameLength} JetStream allows`
    : !tokenPattern.test(name)
    ? `has characters other than letters, digits, "_" and "-"`
    : undefined

const invalid = (field: string, reason: string, message: string): ValidationError =>
  new ValidationError({ message, details: { field, reason } })

/**
 * Defines a stream for a domain; its subjects are `cmd.<domain>.>` and `evt.<domain>.>`, and its domain defaults
 * to the lower-cased name (the Python rule: `AI_PROCESSING` holds `cmd.ai_processing.>`). A name JetStream refuses
 * (see {@link nameRefusal}), a domain that is not a subject token or a subject filter that is not valid throws a
 * `ValidationError` naming the field (`name`, `domain`, `subjects`) and the reason, as `Events.event` does.
 *
 * @example
 * ```ts
 * import { Streams } from "@glam/shared/Events"
 *
 * const ORDER = Streams.make("ORDER", { description: "Shop orders" })
 * // { name: "ORDER", domain: "order", subjects: ["cmd.order.>", "evt.order.>"], ... }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  name: string,
  options?: {
    readonly domain?: string | undefined
    readonly description?: string | undefined
    /**
     * The subject filters the stream holds instead of `cmd.<domain>.>` and `evt.<domain>.>`: for subjects without
     * the prefixes (`["appointment.>"]`, a healthcare stream of verbatim definitions).
     *
     * @since 0.2.0
     */
    readonly subjects?: ReadonlyArray<string> | undefined
  }
): StreamDefinition => {
  const refused = typeof name === "string" ? nameRefusal(name) : "is not a string"
  if (refused !== undefined) {
    throw invalid("name", refused, `Stream name ${quoted(name)} is not valid: it ${refused}`)
  }
  const domain = options?.domain ?? name.toLowerCase()
  if (typeof domain !== "string" || !tokenPattern.test(domain)) {
    const reason = `is not a subject token (letters, digits, "_" or "-")`
    throw invalid("domain", reason, `Stream ${name}: domain ${quoted(domain)} ${reason}`)
  }
  const subjects = options?.subjects ?? [`cmd.${domain}.>`, `evt.${domain}.>`]
  if (!Array.isArray(subjects) || subjects.length === 0) {
    throw invalid("subjects", "must be a non-empty list of subject filters", `Stream ${name} holds no subjects`)
  }
  const badFilter = subjects.find((filter) => typeof filter !== "string" || !validFilter(filter))
  if (badFilter !== undefined) {
    const reason = `${quoted(badFilter)} is not a subject filter`
    throw invalid("subjects", reason, `Stream ${name}: subject filter ${quoted(badFilter)} is not valid`)
  }
  return { name, domain, subjects, description: options?.description }
}

// A name in a message: quoted and cut, so a long or odd value neither floods a log nor hides its kind.
const quoted = (value: unknown): string => quoteValue(value, 80)

// A NATS subject filter: non-empty tokens without whitespace, `*` standing alone, `>` alone and last.
const validFilter = (filter: string): boolean => {
  const tokens = filter.split(".")
  return tokens.every((token, i) =>
    token !== "" && !/\s/.test(token) &&
    (token === ">" ? i === tokens.length - 1 : token === "*" || !/[*>]/.test(token))
  )
}

/**
 * The CATALOG stream (catalog management): `cmd.catalog.>` and `evt.catalog.>`.
 *
 * @since 0.1.0
 * @category streams
 */
export const CATALOG: StreamDefinition = make("CATALOG", { description: "Catalog management" })
/**
 * The MERCHANT stream (merchant management): `cmd.merchant.>` and `evt.merchant.>`.
 *
 * @since 0.1.0
 * @category streams
 */
export const MERCHANT: StreamDefinition = make("MERCHANT", { description: "Merchant management" })
/**
 * The BILLING stream (billing management): `cmd.billing.>` and `evt.billing.>`.
 *
 * @since 0.1.0
 * @category streams
 */
export const BILLING: StreamDefinition = make("BILLING", { description: "Billing management" })
/**
 * The CREDIT stream (credit management): `cmd.credit.>` and `evt.credit.>`.
 *
 * @since 0.1.0
 * @category streams
 */
export const CREDIT: StreamDefinition = make("CREDIT", { description: "Credit management" })
/**
 * The PROFILE stream (merchant users profiles): `cmd.profile.>` and `evt.profile.>`.
 *
 * @since 0.1.0
 * @category streams
 */
export const PROFILE: StreamDefinition = make("PROFILE", { description: "Merchant users profiles" })
/**
 * The NOTIFICATION stream (notification delivery): `cmd.notification.>` and `evt.notification.>`.
 *
 * @since 0.1.0
 * @category streams
 */
export const NOTIFICATION: StreamDefinition = make("NOTIFICATION", { description: "Notification delivery" })
/**
 * The ANALYTICS stream (analytics and reporting): `cmd.analytics.>` and `evt.analytics.>`.
 *
 * @since 0.1.0
 * @category streams
 */
export const ANALYTICS: StreamDefinition = make("ANALYTICS", { description: "Analytics and reporting" })
/**
 * Webhook delivery. As in Python (`stream.value.lower()`), its subjects are `cmd.webhooks.>` and
 * `evt.webhooks.>`: a subject `evt.webhook.x` (singular) has no stream.
 *
 * @since 0.1.0
 * @category streams
 */
export const WEBHOOKS: StreamDefinition = make("WEBHOOKS", { description: "Webhook delivery" })
/**
 * The SCHEDULER stream (scheduled jobs): `cmd.scheduler.>` and `evt.scheduler.>`.
 *
 * @since 0.1.0
 * @category streams
 */
export const SCHEDULER: StreamDefinition = make("SCHEDULER", { description: "Scheduled jobs" })
/**
 * AI/ML processing tasks: subjects `cmd.ai_processing.>` and `evt.ai_processing.>`.
 *
 * @since 0.1.0
 * @category streams
 */
export const AI_PROCESSING: StreamDefinition = make("AI_PROCESSING", { description: "AI/ML processing tasks" })

/**
 * The ten domain streams of the Python `Streams` enum, in its order.
 *
 * @since 0.1.0
 * @category streams
 */
export const all: ReadonlyArray<StreamDefinition> = [
  CATALOG,
  MERCHANT,
  BILLING,
  CREDIT,
  PROFILE,
  NOTIFICATION,
  ANALYTICS,
  WEBHOOKS,
  SCHEDULER,
  AI_PROCESSING
]

/**
 * Which stream each service publishes to (`SERVICE_STREAM_MAP` of `events/mappers.py`).
 *
 * @since 0.1.0
 * @category services
 */
export const serviceStreams: { readonly [service: string]: StreamDefinition } = {
  "analytics-service": ANALYTICS,
  "billing-service": BILLING,
  "catalog-ai-service": AI_PROCESSING,
  "catalog-connector": CATALOG,
  "catalog-service": CATALOG,
  "credit-service": CREDIT,
  "merchant-service": MERCHANT,
  "notification-service": NOTIFICATION,
  "profile-ai-selfie": AI_PROCESSING,
  "profile-service": PROFILE,
  "scheduler-service": SCHEDULER,
  "webhook-service": WEBHOOKS
}

/**
 * The stream a service publishes to (`get_stream_for_service`), `None` for an unknown service.
 *
 * @since 0.1.0
 * @category services
 */
export const streamForService = (service: string): Option.Option<StreamDefinition> =>
  Object.prototype.hasOwnProperty.call(serviceStreams, service)
    ? Option.some(serviceStreams[service]!)
    : Option.none()

/**
 * An immutable set of streams, looked up by the domain token of a subject.
 *
 * @since 0.1.0
 * @category registry
 */
export interface StreamRegistry {
  readonly streams: ReadonlyArray<StreamDefinition>
  readonly byDomain: ReadonlyMap<string, StreamDefinition>
}

/**
 * Builds a registry; later streams replace earlier ones with the same domain or name.
 *
 * @since 0.1.0
 * @category registry
 */
export const registry = (streams: Iterable<StreamDefinition>): StreamRegistry => {
  const byName = new Map<string, StreamDefinition>()
  for (const stream of streams) {
    for (const [name, existing] of byName) {
      if (existing.domain === stream.domain) byName.delete(name)
    }
    byName.set(stream.name, stream)
  }
  const list = [...byName.values()]
  return { streams: list, byDomain: new Map(list.map((s) => [s.domain, s])) }
}

/**
 * The registry of the ten domain streams.
 *
 * @since 0.1.0
 * @category registry
 */
export const defaultRegistry: StreamRegistry = registry(all)

/**
 * A new registry with more streams (the original is unchanged).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { event, Streams } from "@glam/shared/Events"
 *
 * const OrderPayload = Schema.Struct({ order_id: Schema.String })
 * const registry = Streams.extend(Streams.defaultRegistry, Streams.make("ORDER"))
 * export const OrderUpdated = event("order.updated", OrderPayload, { registry })
 * ```
 *
 * @since 0.1.0
 * @category registry
 */
export const extend = (self: StreamRegistry, ...streams: ReadonlyArray<StreamDefinition>): StreamRegistry =>
  registry([...self.streams, ...streams])

/**
 * The domain token of a `cmd.`/`evt.` subject (`evt.notification.email.sent` -> `notification`).
 *
 * @since 0.1.0
 * @category subjects
 */
export const domainOf = (subject: string): Option.Option<string> => {
  const parts = subject.split(".")
  return parts.length >= 3 && (parts[0] === "cmd" || parts[0] === "evt") && parts[1] !== ""
    ? Option.some(parts[1]!)
    : Option.none()
}

/**
 * Whether a concrete subject matches a NATS subject filter (`*` one token, `>` one or more trailing tokens).
 *
 * @since 0.1.0
 * @category subjects
 */
export const subjectMatches = (filter: string, subject: string): boolean => {
  const f = filter.split(".")
  const s = subject.split(".")
  for (let i = 0; i < f.length; i++) {
    const token = f[i]!
    if (token === ">") return i === f.length - 1 && s.length > i
    if (i >= s.length) return false
    if (token !== "*" && token !== s[i]) return false
  }
  return f.length === s.length
}

/**
 * Whether a stream holds a subject.
 *
 * @since 0.1.0
 * @category subjects
 */
export const holds = (stream: StreamDefinition, subject: string): boolean =>
  stream.subjects.some((filter) => subjectMatches(filter, subject))

/**
 * The stream a subject lands in, inferred from its domain token (`get_stream_from_subject`, for any number of
 * tokens).
 *
 * @example
 * ```ts
 * import { Streams } from "@glam/shared/Events"
 *
 * Streams.streamForSubject("cmd.scheduler.schedule.create") // Some(SCHEDULER)
 * Streams.streamForSubject("evt.order.updated") // None
 * ```
 *
 * @since 0.1.0
 * @category subjects
 */
export const streamForSubject = (
  subject: string,
  registry: StreamRegistry = defaultRegistry
): Option.Option<StreamDefinition> =>
  Option.flatMap(domainOf(subject), (domain) => {
    const stream = registry.byDomain.get(domain)
    return stream !== undefined && holds(stream, subject) ? Option.some(stream) : Option.none()
  })
