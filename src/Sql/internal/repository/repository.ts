/**
 * `Repository.make`: a repository of one model and table, assembled from its context, reads and writes.
 *
 * @internal
 */
import type * as Model from "@effect/sql/Model"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import type { Column, MakeOptions, Repository } from "../../Repository.js"
import { makeContext } from "./context.js"
import { makeReads } from "./reads.js"
import { makeWrites } from "./writes.js"

/** @internal */
export const make = <S extends Model.AnyNoContext, const Id extends Column<S>>(
  model: S,
  options: MakeOptions<Id>
): Effect.Effect<Repository<S, Id>, never, SqlClient.SqlClient> =>
  Effect.map(makeContext(model, options), (ctx) => {
    const reads = makeReads(ctx)
    const writes = makeWrites(ctx)
    // The public interface states each operation's requirements and failures (`Requirements<S>`, `SqlFailure`);
    // the operations here are typed over `unknown` and cast once.
    const repository = {
      table: ctx.table,
      ...reads,
      ...writes,
      save: writes.insert
    }
    return repository as unknown as Repository<S, Id>
  })
