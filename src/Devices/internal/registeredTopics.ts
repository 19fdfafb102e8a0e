/**
 * The topics devices are registered with (`register({ topics })`): subscribed at the broker while a handler of the
 * registry's device messages runs (`Devices.handleMessages`), one subscription per distinct filter, each message
 * handed to every handler once for each device registered with the filter, and taken as that device's sign of life.
 * A registration's tracking (liveness.ts) changes with its topics, under the same lock, here and at each refresh.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type { DeviceMessage } from "../Devices.js"
import type { MqttClient, MqttMessage, MqttSubscription } from "../MqttClient.js"
import type { MqttTopic } from "../MqttTopic.js"
import { invalidTopic, type RegistrationsRead } from "./deviceRecord.js"
import type { MqttError } from "./errors.js"
import * as Liveness from "./liveness.js"

/** A handler of device messages, its requirements provided. */
type Listener = (message: DeviceMessage) => Effect.Effect<unknown, unknown>

/** The registered filters, their devices, and the subscriptions made for them while a handler runs. */
export interface RegisteredTopics {
  readonly client: MqttClient
  readonly liveness: Liveness.Liveness
  /** The topic of a registered filter, its payload JSON of every shape. */
  readonly topicOf: (filter: string) => MqttTopic<string, unknown, unknown>
  /** The scope the subscriptions live in: the registry's. */
  readonly scope: Scope.Scope
  /** The devices registered with each filter. */
  readonly owners: Map<string, Set<string>>
  readonly active: Map<string, { readonly subscription: MqttSubscription; readonly scope: Scope.CloseableScope }>
  readonly listeners: Set<Listener>
  readonly lock: Effect.Semaphore
}

export const make = (
  client: MqttClient,
  liveness: Liveness.Liveness,
  topicOf: (filter: string) => MqttTopic<string, unknown, unknown>
): Effect.Effect<RegisteredTopics, never, Scope.Scope> =>
  Effect.gen(function*() {
    return {
      client,
      liveness,
      topicOf,
      scope: yield* Effect.scope,
      owners: new Map(),
      active: new Map(),
      listeners: new Set(),
      lock: yield* Effect.makeSemaphore(1)
    }
  })

/** Records the registered topics of a device known at startup; a topic the registry cannot subscribe is skipped. */
export const load = (rt: RegisteredTopics, deviceId: string, topics: ReadonlyArray<string>): Effect.Effect<void> =>
  Effect.forEach(topics, (topic) => {
    const invalid = invalidTopic(topic)
    if (invalid !== undefined) {
      return Effect.logWarning(
        `Devices: the registered topic ${JSON.stringify(topic)} of device ${deviceId} is not subscribed: it ${invalid}`
      )
    }
    return Effect.sync(() => own(rt, topic, deviceId))
  }, { discard: true })

const own = (rt: RegisteredTopics, filter: string, deviceId: string): void => {
  const devices = rt.owners.get(filter)
  if (devices === undefined) rt.owners.set(filter, new Set([deviceId]))
  else devices.add(deviceId)
}

const handle = (rt: RegisteredTopics, filter: string) => (message: MqttMessage<string, unknown>) =>
  Effect.forEach([...rt.owners.get(filter) ?? []], (deviceId) =>
    Effect.zipRight(
      // A retained message is no sign of life: the broker sends it when a subscription starts, however old.
      message.retain ? Effect.void : Liveness.seen(rt.liveness, deviceId),
      Effect.forEach([...rt.listeners], (listener) => listener({ ...message, device_id: deviceId, filter }), {
        discard: true
      })
    ), { discard: true })

/**
 * Subscribes a filter not in `active` and puts it there. The broker's refusal of the subscription made
 * (`MqttSubscription.refused`: a SUBACK read late at a resumed start, a SUBSCRIBE sent again in a new session) takes
 * it out of `active`, its scope closed, with a warning (the client logged the refusal as an error): the next refresh,
 * or the next registration of the filter, subscribes it again.
 */
const subscribeFilter = (rt: RegisteredTopics, filter: string): Effect.Effect<void, MqttError> =>
  Effect.gen(function*() {
    if (rt.active.has(filter)) return
    const scope = yield* Scope.fork(rt.scope, ExecutionStrategy.sequential)
    // Interrupted (a concurrent subscription failed), a subscription made is in `active`, watched for its refusal, or
    // its scope is closed.
    yield* Effect.uninterruptibleMask((restore) =>
      restore(rt.client.subscribe(rt.topicOf(filter), handle(rt, filter))).pipe(
        Scope.extend(scope),
        Effect.onError(() => Scope.close(scope, Exit.void)),
        Effect.flatMap((subscription) => {
          rt.active.set(filter, { subscription, scope })
          // Interruptible: a fiber forked here would inherit the mask, and closing its scope would wait for it.
          return Effect.forkIn(Effect.interruptible(dropWhenRefused(rt, filter, subscription)), scope)
        })
      )
    )
  })

/** Once the broker refuses the filter's subscription late, takes it out of `active` (unless it was replaced). */
const dropWhenRefused = (rt: RegisteredTopics, filter: string, subscription: MqttSubscription): Effect.Effect<void> =>
  Effect.flatMap(
    subscription.refused,
    (refusal) =>
      rt.lock.withPermits(1)(Effect.suspend(() =>
        rt.active.get(filter)?.subscription === subscription
          ? Effect.zipRight(
            Effect.logWarning(
              `Devices: the registered topic ${filter} is not subscribed (${refusal.message}); the next refresh or ` +
                "registration of it subscribes it again"
            ),
            Effect.ignore(dropFilter(rt, filter, false))
          )
          : Effect.void
      ))
  )

/**
 * Subscribes the filters concurrently, their SUBACKs awaited together (at a resumed start, a subscription made while a
 * queued message waits for one does not wait for its SUBACK: subscriptions.ts). The first failure fails it, the other
 * subscriptions interrupted.
 */
const subscribeFilters = (rt: RegisteredTopics, filters: Iterable<string>): Effect.Effect<void, MqttError> =>
  Effect.forEach(new Set(filters), (filter) => subscribeFilter(rt, filter), { concurrency: "unbounded", discard: true })

/** Stops handling the filter here; `unsubscribe` ends the broker's subscription too. */
const stopAll = (rt: RegisteredTopics): Effect.Effect<void> =>
  Effect.forEach([...rt.active.keys()], (filter) => Effect.ignore(dropFilter(rt, filter, false)), { discard: true })

const dropFilter = (rt: RegisteredTopics, filter: string, unsubscribe: boolean): Effect.Effect<void, MqttError> =>
  Effect.suspend(() => {
    const entry = rt.active.get(filter)
    if (entry === undefined) return Effect.void
    rt.active.delete(filter)
    return (unsubscribe ? entry.subscription.unsubscribe : Effect.void).pipe(
      Effect.ensuring(Scope.close(entry.scope, Exit.void))
    )
  })

/**
 * A device is registered (or registered again) with these topics: it is tracked (`Liveness.registered`), while a
 * handler runs each topic is subscribed, and a filter that no registered device still holds is unsubscribed. Under
 * the registry's lock, so that a refresh reading the registry before the write is applied before it.
 */
export const registered = (
  rt: RegisteredTopics,
  deviceId: string,
  topics: ReadonlyArray<string>
): Effect.Effect<void, MqttError> =>
  rt.lock.withPermits(1)(Effect.flatMap(Clock.currentTimeMillis, (now) => {
    Liveness.registered(rt.liveness, deviceId, now)
    return apply(rt, deviceId, topics)
  }))

const apply = (rt: RegisteredTopics, deviceId: string, topics: ReadonlyArray<string>): Effect.Effect<void, MqttError> =>
  Effect.gen(function*() {
    const dropped: Array<string> = []
    for (const [filter, devices] of rt.owners) {
      if (devices.delete(deviceId) && devices.size === 0) {
        rt.owners.delete(filter)
        dropped.push(filter)
      }
    }
    for (const topic of topics) own(rt, topic, deviceId)
    if (rt.listeners.size === 0) return
    for (const filter of dropped) if (!rt.owners.has(filter)) yield* dropFilter(rt, filter, true)
    yield* subscribeFilters(rt, topics)
  })

/** A stored registration's topics the registry subscribes: each once, without those it cannot subscribe. */
const subscribable = (
  topics: ReadonlyArray<string>
): Array<string> => [...new Set(topics.filter((topic) => invalidTopic(topic) === undefined))]

const warnRefresh = (e: MqttError) => Effect.logWarning(`Devices: the registry's refresh: ${e.message}`)

/** The registered filters of each device, as `owners` holds them. */
const filtersByDevice = (rt: RegisteredTopics): Map<string, Set<string>> => {
  const byDevice = new Map<string, Set<string>>()
  for (const [filter, devices] of rt.owners) {
    for (const deviceId of devices) {
      const filters = byDevice.get(deviceId)
      if (filters === undefined) byDevice.set(deviceId, new Set([filter]))
      else filters.add(filter)
    }
  }
  return byDevice
}

/**
 * Brings the tracked devices and the registered filters in line with the registrations `read` returns (every row of
 * the registry, as another instance may have written it): the devices tracked are the stored ones
 * (`Liveness.stored`), a device whose topics differ is registered again with the stored ones, a device held here
 * that `read` does not return holds none, and while a handler runs, a filter left unsubscribed (a subscription that
 * failed) is subscribed again. A row `read` skipped leaves its device's topics as they are here (the device, stored,
 * is tracked). The registry's lock is held from the read on, so a registration made here meanwhile is applied after
 * it. A stored topic the registry cannot subscribe is skipped (`load` warned of it at startup). Every subscription's
 * failure is logged, and tried again at the next refresh.
 */
export const refresh = <E>(rt: RegisteredTopics, read: Effect.Effect<RegistrationsRead, E>): Effect.Effect<void, E> =>
  rt.lock.withPermits(1)(Effect.gen(function*() {
    const { rows, skipped } = yield* read
    const stored = new Set(skipped)
    for (const row of rows) stored.add(row.device_id)
    yield* Liveness.stored(rt.liveness, stored, yield* Clock.currentTimeMillis)
    const held = filtersByDevice(rt)
    for (const row of rows) {
      if (row.topics.length === 0 && !held.has(row.device_id)) continue
      const topics = subscribable(row.topics)
      const current = held.get(row.device_id) ?? new Set<string>()
      if (topics.length !== current.size || topics.some((topic) => !current.has(topic))) {
        yield* apply(rt, row.device_id, topics).pipe(Effect.catchAll(warnRefresh))
      }
    }
    for (const deviceId of held.keys()) {
      if (!stored.has(deviceId)) yield* apply(rt, deviceId, []).pipe(Effect.catchAll(warnRefresh))
    }
    if (rt.listeners.size === 0) return
    yield* Effect.forEach(
      [...rt.owners.keys()],
      (filter) => subscribeFilter(rt, filter).pipe(Effect.catchAll(warnRefresh)),
      { concurrency: "unbounded", discard: true }
    )
  }))

/**
 * Brings these devices in line with their registrations `read` returns (their rows only, as another instance wrote
 * them): a device stored is tracked and registered with its stored topics, as `registered` does, one not stored is
 * forgotten and holds none, as `unregistered` does, and one whose row `read` skipped is tracked (it is stored, as
 * `refresh` tracks it) and its topics left as they are. Under the registry's lock from the read on, as `refresh`; a
 * subscription's failure is logged, and tried again at the next refresh.
 */
export const refreshDevices = <E>(
  rt: RegisteredTopics,
  deviceIds: ReadonlyArray<string>,
  read: Effect.Effect<RegistrationsRead, E>
): Effect.Effect<void, E> =>
  rt.lock.withPermits(1)(Effect.gen(function*() {
    const { rows, skipped } = yield* read
    const now = yield* Clock.currentTimeMillis
    const found = new Map(rows.map((row) => [row.device_id, row.topics]))
    const gone = deviceIds.filter((deviceId) => !found.has(deviceId) && !skipped.has(deviceId))
    for (const [deviceId, topics] of found) {
      Liveness.registered(rt.liveness, deviceId, now)
      yield* apply(rt, deviceId, subscribable(topics)).pipe(Effect.catchAll(warnRefresh))
    }
    for (const deviceId of skipped) Liveness.registered(rt.liveness, deviceId, now)
    if (gone.length === 0) return
    yield* Liveness.forgetAll(rt.liveness, gone)
    for (const deviceId of gone) yield* apply(rt, deviceId, []).pipe(Effect.catchAll(warnRefresh))
  }))

/**
 * A device is unregistered: it is no longer tracked (`Liveness.forget`), and its filters no other registered device
 * holds are unsubscribed. Under the registry's lock, as `registered`.
 */
export const unregistered = (rt: RegisteredTopics, deviceId: string): Effect.Effect<void, MqttError> =>
  rt.lock.withPermits(1)(Effect.zipRight(Liveness.forget(rt.liveness, deviceId), apply(rt, deviceId, [])))

/**
 * Hands the messages of the registered topics to a handler until the scope closes. The first handler subscribes every
 * registered filter; when the last one stops, the subscriptions stop being handled here, and a persistent session
 * keeps them at the broker.
 */
export const listen = <E, R>(
  rt: RegisteredTopics,
  handler: (message: DeviceMessage) => Effect.Effect<unknown, E, R>
): Effect.Effect<void, MqttError, R | Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<R>()
    const listener: Listener = (message) => Effect.provide(Effect.suspend(() => handler(message)), context)
    yield* Effect.acquireRelease(
      rt.lock.withPermits(1)(Effect.gen(function*() {
        rt.listeners.add(listener)
        yield* subscribeFilters(rt, rt.owners.keys()).pipe(
          Effect.onError(() =>
            Effect.suspend(() => {
              rt.listeners.delete(listener)
              return rt.listeners.size === 0 ? stopAll(rt) : Effect.void
            })
          )
        )
      })),
      () =>
        rt.lock.withPermits(1)(Effect.suspend(() => {
          rt.listeners.delete(listener)
          return rt.listeners.size === 0 ? stopAll(rt) : Effect.void
        }))
    )
  })
