/**
 * The defaults and rules of a service client's settings that the client and its configuration both read (public
 * face: `HttpConfig`).
 *
 * @internal
 */

/** The largest response body read when the client's settings name none. @internal */
export const defaultMaxResponseBytes = 10 * 1024 * 1024

/** Whether a base URL is one a client can call: an absolute `http://` or `https://` URL. @internal */
export const isHttpUrl = (url: string): boolean => URL.canParse(url) && /^https?:$/.test(new URL(url).protocol)

/** What a client and its configuration say of a base URL that is not one (never quoting it: it may hold a password). */
export const invalidBaseUrl = "Expected an absolute http:// or https:// URL"
