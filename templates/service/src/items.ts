/**
 * The handlers of the items group: a repository on the `items` table, and the `item_created` event written
 * through the outbox in the same transaction as the row, so that it is published if and only if the row commits.
 */
import { HttpApiBuilder } from "@effect/platform"
import { Sql } from "@glam/shared"
import { Effect } from "effect"
import { Api } from "./api.js"
import { Item, ItemCreated, ItemNotFoundError } from "./domain.js"

export const ItemsLive = HttpApiBuilder.group(Api, "items", (handlers) =>
  Effect.gen(function*() {
    const items = yield* Sql.Repository.make(Item, { table: "items", id: "id" })

    return handlers
      .handle("create", ({ payload }) =>
        Effect.gen(function*() {
          const item = yield* items.insert(Item.insert.make({ id: crypto.randomUUID(), name: payload.name }))
          yield* Sql.OutboxRelay.enqueue(ItemCreated, { item_id: item.id, name: item.name })
          return item
        }).pipe(Sql.transaction()))
      .handle("get", ({ path }) =>
        items.findById(path.id).pipe(
          Effect.catchTag(
            "NotFoundError",
            () => new ItemNotFoundError({ message: `Item ${path.id} not found`, details: { resource_id: path.id } })
          )
        ))
      .handle(
        "list",
        ({ urlParams }) => items.paginate({ ...urlParams, orderBy: { column: "created_at", direction: "desc" } })
      )
  }))
