/**
 * What a subject an event is published on must be: dot-separated tokens, none empty, none holding a wildcard
 * (`*`, `>`) or whitespace.
 *
 * @internal
 */

const badToken = /[\s*>]/

/**
 * Why a subject cannot name one event, if it cannot.
 *
 * @internal
 */
export const subjectRefusal = (subject: string): string | undefined =>
  subject.split(".").some((token) => token === "" || badToken.test(token))
    ? "has an empty token, a wildcard or whitespace"
    : undefined
