/**
 * Idempotency keys (`utils/idempotency.py`): the `Nats-Msg-Id` that makes a publish deduplicate.
 *
 * @since 0.1.0
 */

const normalize = (part: string): string => part.toUpperCase().replaceAll("-", "_").replaceAll(".", "_")

/**
 * `SYSTEM_OPERATION_ID[_EXTRA]`: system, operation and extra are upper-cased with `-` and `.` turned into `_`;
 * the identifier is kept as it is (`generate_idempotency_key`).
 *
 * @example
 * ```ts
 * import { IdempotencyKey } from "@glam/shared/Events"
 *
 * IdempotencyKey.generate("SHOPIFY", "ORDER", "123456") // "SHOPIFY_ORDER_123456"
 * IdempotencyKey.generate("STRIPE", "PAYMENT", "pi_abc123") // "STRIPE_PAYMENT_pi_abc123"
 * IdempotencyKey.generate("SHOPIFY", "ORDER", "123", "TESTSTORE") // "SHOPIFY_ORDER_123_TESTSTORE"
 * IdempotencyKey.generate("shopify-app", "order.create", 42, "test-store.com") // "SHOPIFY_APP_ORDER_CREATE_42_TEST_STORE_COM"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const generate = (
  system: string,
  operationType: string,
  identifier: string | number | bigint,
  extra?: string | null | undefined
): string => {
  const parts = [normalize(String(system)), normalize(String(operationType)), String(identifier)]
  // Python's `if extra:` skips None and "" alike.
  if (extra) parts.push(normalize(String(extra)))
  return parts.join("_")
}
