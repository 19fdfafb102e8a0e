/**
 * The OpenTelemetry `Resource` of a service with the credentials its attributes may quote hidden. Its attributes come
 * partly from outside the service's configuration (`OTEL_RESOURCE_ATTRIBUTES`, which a CI or a deployment fills, a
 * repository URL with its access token among them), and every exported span and the `target_info` of `/metrics`
 * carry them all.
 *
 * @internal
 */
import * as Resource from "@effect/opentelemetry/Resource"
import type { Attributes, AttributeValue } from "@opentelemetry/api"
import { type Resource as OtelResource, resourceFromAttributes } from "@opentelemetry/resources"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { isSecretPath, redactValueAt } from "../../Config/internal/names.js"
import { configuredSecrets } from "../../internal/configuredSecrets.js"
import { hidden, scrubText } from "../../internal/credentials.js"

/**
 * An attribute's value with its credentials hidden: the whole value of a key that names a credential
 * (`deployment.api_key`), as a configuration key's would be; elsewhere the configured secrets and the userinfo and
 * secret-looking query values of its URLs.
 */
const cleanValue = (key: string, value: AttributeValue, secrets: ReadonlyArray<string>): AttributeValue => {
  const path = key.split(".")
  const clean = (text: string) => isSecretPath(path) ? hidden : redactValueAt(path, scrubText(text, secrets))
  if (typeof value === "string") return clean(value)
  if (!Array.isArray(value)) return value
  return value.some((item) => typeof item === "string" && clean(item) !== item) ?
    value.map((item) => typeof item === "string" ? clean(item) : item) as AttributeValue :
    value
}

/**
 * The resource with the credentials of its attributes hidden (see {@link cleanValue}), or the same resource when
 * none holds one.
 *
 * @internal
 */
export const hideCredentials = (resource: OtelResource): OtelResource => {
  const secrets = configuredSecrets()
  const attributes: Attributes = {}
  let changed = false
  for (const key in resource.attributes) {
    const value = resource.attributes[key]
    if (value === undefined) continue
    const cleaned = cleanValue(key, value, secrets)
    if (cleaned !== value) changed = true
    attributes[key] = cleaned
  }
  if (!changed) return resource
  return resourceFromAttributes(attributes, resource.schemaUrl === undefined ? {} : { schemaUrl: resource.schemaUrl })
}

/**
 * The attributes a service gives its resource (`service.name`, `service.version`, more).
 *
 * @internal
 */
export type Config = Parameters<typeof Resource.configToAttributes>[0]

/**
 * `Resource.layerFromEnv` (the attributes of `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`, then `config`'s) with
 * the credentials of its attributes hidden (see {@link hideCredentials}).
 *
 * @internal
 */
export const layer = (config: Config): Layer.Layer<Resource.Resource> =>
  Layer.effect(Resource.Resource, Effect.map(Resource.Resource, hideCredentials)).pipe(
    Layer.provide(Resource.layerFromEnv(Resource.configToAttributes(config)))
  )
