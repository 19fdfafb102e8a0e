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
  // The entries in one pass (`get` looks each name up again through the list of names).
  for (const [key, values] of h) out[key] = values[0] ?? ""
  return out
}
