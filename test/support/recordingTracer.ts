/**
 * A tracer that records every span the native tracer opens, for tests that compare span trees.
 */
import { Effect, Layer, Tracer } from "effect"

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
