/**
 * The ids' FiberRefs and entering them on a fiber's refs (public face: `Telemetry/Correlation`). Each id given is
 * checked once ({@link check}); what the check found is what the refs, the span annotations and the refusals are
 * made from, so a path that also puts the ids on a span of its own (the Bus's consumer span) checks them once.
 *
 * @internal
 */
import * as Context from "effect/Context"
import type * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import { globalValue } from "effect/GlobalValue"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import { cutText } from "../../internal/text.js"
import type { Ids } from "../Correlation.js"
import * as FiberRefsUpdate from "./fiberRefsUpdate.js"

/** @internal */
export const currentCorrelationId: FiberRef.FiberRef<Option.Option<string>> = globalValue(
  "@glam/shared/Telemetry/Correlation/currentCorrelationId",
  () => FiberRef.unsafeMake<Option.Option<string>>(Option.none())
)

/** @internal */
export const currentRequestId: FiberRef.FiberRef<Option.Option<string>> = globalValue(
  "@glam/shared/Telemetry/Correlation/currentRequestId",
  () => FiberRef.unsafeMake<Option.Option<string>>(Option.none())
)

/** @internal */
export const currentCausationId: FiberRef.FiberRef<Option.Option<string>> = globalValue(
  "@glam/shared/Telemetry/Correlation/currentCausationId",
  () => FiberRef.unsafeMake<Option.Option<string>>(Option.none())
)

/** @internal */
export const spanAttributes = {
  correlationId: "correlation_id",
  requestId: "request_id",
  causationId: "causation_id"
} as const

/** @internal */
export const maxRefusedIdLength = 256

// 1 to 128 characters, each a tab, printable ASCII or printable latin-1 (U+00A0..U+00FF), the first and the last
// neither blank nor a tab. Node's HTTP client refuses a header value holding a character above U+00FF or a control
// character; C1 controls (U+0080..U+009F) are refused too (a terminal reads some as escapes), and a blank edge
// would be trimmed on the way.
const settableId = /^[\x21-\x7e\xa1-\xff](?:[\t\x20-\x7e\xa0-\xff]{0,126}[\x21-\x7e\xa1-\xff])?$/

/** @internal */
export const isSettableId = (value: string): boolean => settableId.test(value)

/**
 * An id found settable: its FiberRef, its span attribute's name, its value.
 *
 * @internal
 */
export type IdEntry = readonly [FiberRef.FiberRef<Option.Option<string>>, string, string]

/**
 * Ids checked: the settable ones in the order correlation, request, causation, and the span attributes recording
 * the others (`refused_<name>`, each cut to {@link maxRefusedIdLength}; `undefined` when none is refused).
 *
 * @internal
 */
export interface Checked {
  readonly entries: ReadonlyArray<IdEntry>
  readonly refused: Record<string, string> | undefined
}

/**
 * Each id given checked once by {@link isSettableId}.
 *
 * @internal
 */
export const check = (ids: Ids): Checked => {
  const entries: Array<IdEntry> = []
  let refused: Record<string, string> | undefined
  const add = (ref: FiberRef.FiberRef<Option.Option<string>>, key: string, id: string | undefined) => {
    if (id === undefined) return
    if (settableId.test(id)) {
      entries.push([ref, key, id])
    } else {
      refused ??= {}
      refused[`refused_${key}`] = cutText(id, maxRefusedIdLength)
    }
  }
  add(currentCorrelationId, spanAttributes.correlationId, ids.correlationId)
  add(currentRequestId, spanAttributes.requestId, ids.requestId)
  add(currentCausationId, spanAttributes.causationId, ids.causationId)
  return { entries, refused }
}

/**
 * The refusals of ids checked, as attributes of `span`.
 *
 * @internal
 */
export const annotateRefused = (span: Tracer.Span, checked: Checked): void => {
  const refused = checked.refused
  if (refused !== undefined) { for (const key in refused) span.attribute(key, refused[key]) }
}

// The ids' FiberRefs and the span annotations in one FiberRefs update (one copy of the fiber's refs), rather than
// `locally` + `annotateSpans` + `annotateCurrentSpan` per id (`annotateCurrentSpan` outside a span fails
// internally with an exception and its stack trace).
/** @internal */
export const updatedRefs = (
  fiberId: FiberId.Runtime,
  refs: FiberRefs.FiberRefs,
  entries: ReadonlyArray<IdEntry>,
  values: ReadonlyArray<Option.Option<string>>,
  annotations: (current: HashMap.HashMap<string, unknown>) => HashMap.HashMap<string, unknown>,
  context?: Context.Context<never>
): FiberRefs.FiberRefs => {
  const settings: Array<FiberRefsUpdate.Setting> = [[
    FiberRef.currentTracerSpanAnnotations as FiberRef.FiberRef<unknown>,
    annotations(FiberRefs.getOrDefault(refs, FiberRef.currentTracerSpanAnnotations))
  ]]
  for (let i = 0; i < entries.length; i++) settings.push([entries[i]![0] as FiberRef.FiberRef<unknown>, values[i]])
  if (context !== undefined) settings.push([FiberRef.currentContext as FiberRef.FiberRef<unknown>, context])
  return FiberRefsUpdate.setAll(refs, fiberId, settings)
}

/** @internal */
export const annotateWith = (entries: ReadonlyArray<IdEntry>) => (current: HashMap.HashMap<string, unknown>) => {
  let annotated = current
  for (const [, key, id] of entries) annotated = HashMap.set(annotated, key, id as unknown)
  return annotated
}

/**
 * `Correlation.refsWithIds` of ids checked: the settable ones set, the refusals on the parent span given.
 *
 * @internal
 */
export const refsWithChecked = (
  fiberId: FiberId.Runtime,
  refs: FiberRefs.FiberRefs,
  checked: Checked,
  parentSpan: Tracer.AnySpan | undefined
): FiberRefs.FiberRefs => {
  const { entries } = checked
  if (parentSpan !== undefined && parentSpan._tag === "Span") annotateRefused(parentSpan, checked)
  const context = parentSpan === undefined
    ? undefined
    : Context.add(FiberRefs.getOrDefault(refs, FiberRef.currentContext), Tracer.ParentSpan, parentSpan)
  const values: Array<Option.Option<string>> = []
  for (let i = 0; i < entries.length; i++) values.push(Option.some(entries[i]![2]))
  return updatedRefs(fiberId, refs, entries, values, annotateWith(entries), context)
}
