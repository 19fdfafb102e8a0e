/**
 * Keys nobody reads, and the key probably meant (edit distance).
 *
 * @internal
 */

/**
 * Edit distance counting an insertion, a deletion, a substitution or a swap of two neighbours as one (optimal
 * string alignment: `hots` -> `host` is 1), or `max + 1` as soon as it exceeds `max`.
 *
 * @internal
 */
const editDistance = (a: string, b: string, max: number): number => {
  if (Math.abs(a.length - b.length) > max) return max + 1
  let before: Array<number> = []
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    let best = i
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let value = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, before[j - 2]! + 1)
      current.push(value)
      if (value < best) best = value
    }
    if (best > max) return max + 1
    before = previous
    previous = current
  }
  return previous[b.length]!
}

/**
 * The candidate nearest to `key` within an edit distance of 2 (1 for keys of 4 characters or fewer), the first of
 * equals; `undefined` when none is that near.
 *
 * @internal
 */
export const closest = (key: string, candidates: Iterable<string>): string | undefined => {
  const max = key.length <= 4 ? 1 : 2
  let found: string | undefined
  let distance = max + 1
  for (const candidate of candidates) {
    const d = editDistance(key, candidate, max)
    if (d < distance) {
      found = candidate
      distance = d
    }
  }
  return found
}
