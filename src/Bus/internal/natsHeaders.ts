/**
 * NATS headers as a plain record, for the JetStream engine and the core NATS transport alike.
 *
 * @internal
 */
import type { MsgHdrs } from "@nats-io/nats-core"

/** NATS headers as a record (the first value of each). @internal */
export const toHeaders = (h: MsgHdrs | undefined): { readonly [name: string]: string } => {
  const out: { [name: string]: string } = {}
  if (h === undefined) return out
  // The entries in one pass (`get` looks each name up again through the list of names). A header named `__proto__`
  // is defined: assigned, it would be dropped (a string cannot become the record's prototype).
  for (const [key, values] of h) {
    if (key === "__proto__") {
      Object.defineProperty(out, key, { value: values[0] ?? "", enumerable: true, writable: true, configurable: true })
    } else {
      out[key] = values[0] ?? ""
    }
  }
  return out
}
