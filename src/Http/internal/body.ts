/**
 * Whether a request carries a body: a `Content-Length` above zero or a `Transfer-Encoding` (whatever its method).
 * Reading the body of a request without one waits for data that never comes.
 *
 * @internal
 */
export const hasBody = (headers: Readonly<Record<string, string | undefined>>): boolean => {
  const length = headers["content-length"]
  return (length !== undefined && length !== "0") || headers["transfer-encoding"] !== undefined
}
