/**
 * The defaults of a service client's settings that the client and its configuration both read (public face:
 * `HttpConfig`).
 *
 * @internal
 */

/** The largest response body read when the client's settings name none. @internal */
export const defaultMaxResponseBytes = 10 * 1024 * 1024
