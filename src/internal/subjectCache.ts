/**
 * The bound of the caches kept by subject as published (span options, ready subjects, the relay's known subjects):
 * a subject may carry ids (`evt.order.<id>`), so such a cache is emptied when full, never grown without bound. Each
 * is a cache only: an entry dropped costs the work it saved once more.
 *
 * @internal
 */

/**
 * The most entries a cache by subject holds.
 *
 * @internal
 */
export const maxSubjects = 1024

/**
 * Empties `cache` when it holds {@link maxSubjects} entries, before one more is added (O(1) per call, amortized).
 *
 * @internal
 */
export const makeRoom = (cache: { readonly size: number; clear(): void }): void => {
  if (cache.size >= maxSubjects) cache.clear()
}
