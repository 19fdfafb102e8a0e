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

/**
 * Whether a body of `contentType` is read as JSON, as FastAPI decides it: no content type (or an empty one),
 * `application/json` or `application/<something>+json` (`application/merge-patch+json`, `application/vnd.api+json`),
 * parameters aside.
 *
 * @internal
 */
export const isJsonContentType = (contentType: string | undefined): boolean => {
  if (contentType === undefined) return true
  const semicolon = contentType.indexOf(";")
  const media = (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase()
  return media === "" || media === "application/json" || (media.startsWith("application/") && media.endsWith("+json"))
}
