/**
 * A tracer that records every span the native tracer opens, for tests that compare span trees.
 */
import { Cause, Effect, Exit, Layer, Tracer } from "effect"
import * as util from "node:util"

/** The layer that installs the tracer, and the spans it has opened so far, in order. */
export const recordingTracer = () => {
  const spans: Array<Tracer.Span> = []
  const layer = Layer.unwrapEffect(Effect.map(Effect.tracer, (native) =>
    Layer.setTracer(Tracer.make({
      span: (...args) => {
        const span = native.span(...args)
        spans.push(span)
        return span
      },
      context: (f, fiber) => native.context(f, fiber)
    }))))
  return { spans, layer }
}

/** What the spans export, as text: name, attributes, events, and the failure each ended with (not its value). */
export const spansText = (spans: ReadonlyArray<Tracer.Span>): string =>
  util.inspect(
    spans.map((span) => ({
      name: span.name,
      attributes: span.attributes,
      events: (span as { readonly events?: unknown }).events,
      failure: span.status._tag === "Ended" && Exit.isFailure(span.status.exit)
        ? Cause.pretty(span.status.exit.cause, { renderErrorCause: true })
        : undefined
    })),
    { depth: 12 }
  )
