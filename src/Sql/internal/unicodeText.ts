/**
 * Whether text is Unicode: the pg driver encodes a lone surrogate (which JavaScript strings and JSON's `"\ud800"`
 * can hold) as U+FFFD, so PostgreSQL would store another text than the one given.
 *
 * @internal
 */

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** @internal */
export const wellFormed = (text: string): boolean => !loneSurrogate.test(text)
