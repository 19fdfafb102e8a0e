/**
 * The HTTP API of __SERVICE_NAME__, typed end to end: its OpenAPI document is served at /openapi.json and
 * Swagger UI at /docs. Responses use the platform's envelope (`data`, `error`, `meta`, `pagination`, `links`).
 */
import { HttpApi, HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Errors, Http } from "@glam/shared"
import { Schema } from "effect"
import { CreateItem, Item, ItemNotFoundError } from "./domain.js"

const ItemId = Schema.Struct({ id: Schema.UUID })

/** Create, get and list items. */
export class ItemsApi extends HttpApiGroup.make("items")
  .add(
    HttpApiEndpoint.post("create", "/api/v1/items")
      .setPayload(CreateItem)
      .addSuccess(Http.ApiEnvelope.Success(Item.json), { status: 201 })
  )
  .add(
    HttpApiEndpoint.get("get", "/api/v1/items/:id")
      .setPath(ItemId)
      .addSuccess(Http.ApiEnvelope.Success(Item.json))
      .addError(Http.HttpErrors.ApiError(ItemNotFoundError))
  )
  .add(
    HttpApiEndpoint.get("list", "/api/v1/items")
      .setUrlParams(Http.Pagination.PaginationParams)
      .addSuccess(Http.ApiEnvelope.Paginated(Item.json))
  )
{}

/** The service's API: its groups and the errors any endpoint may answer with. */
export class Api extends HttpApi.make("__SERVICE_NAME__")
  .add(ItemsApi)
  .addError(Http.HttpErrors.ApiError(Errors.ValidationError))
  .addError(Http.HttpErrors.ApiError(Errors.ConflictError))
  .addError(Http.HttpErrors.ApiError(Errors.DatabaseError))
  .addError(Http.HttpErrors.ApiError(Errors.TransactionOutcomeUnknownError))
  .annotate(OpenApi.Title, "__SERVICE_TITLE__")
  .annotate(OpenApi.Description, "__SERVICE_DESCRIPTION__")
{}
