/**
 * HTTP-date (RFC 9110, 5.6.7) read as strictly as its grammar: the IMF-fixdate a sender writes, and the obsolete
 * RFC 850 and asctime forms a recipient must accept. Case-sensitive, as the grammar is; a text of another shape,
 * or naming a day the month does not have, is no date.
 *
 * @internal
 */

const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
const month = "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
const dayName = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
const dayNameLong = "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
const time = "(\\d{2}):(\\d{2}):(\\d{2})"

// Sun, 06 Nov 1994 08:49:37 GMT
const imfFixdate = new RegExp(`^${dayName}, (\\d{2}) ${month} (\\d{4}) ${time} GMT$`)
// Sunday, 06-Nov-94 08:49:37 GMT
const rfc850Date = new RegExp(`^${dayNameLong}, (\\d{2})-${month}-(\\d{2}) ${time} GMT$`)
// Sun Nov  6 08:49:37 1994
const asctimeDate = new RegExp(`^${dayName} ${month} (\\d{2}| \\d) ${time} (\\d{4})$`)

/** The instant in milliseconds, or `undefined` when a field is out of its range (`31 Feb`, `24:00:00`). */
const instant = (
  year: number,
  monthName: string,
  day: number,
  hour: number,
  minute: number,
  second: number
): number | undefined => {
  // A leap second (`:60`) is the grammar's; it reads as the first second of the next minute.
  if (hour > 23 || minute > 59 || second > 60 || day < 1) return undefined
  const monthIndex = months.indexOf(monthName)
  const date = new Date(0)
  // `setUTCFullYear` takes years below 100 as they are (`Date.UTC` would read them as 19xx).
  date.setUTCFullYear(year, monthIndex, day)
  if (date.getUTCMonth() !== monthIndex || date.getUTCDate() !== day) return undefined
  return date.getTime() + ((hour * 60 + minute) * 60 + second) * 1000
}

/**
 * The instant an HTTP-date names, in milliseconds since the epoch, or `undefined` when the text is not one. The day
 * name is not checked against the date. The two-digit year of an RFC 850 date is the one within 50 years of `now`
 * (RFC 9110: one more than 50 years ahead is the most recent past year with those digits).
 *
 * @internal
 */
export const parseHttpDate = (text: string, now: number): number | undefined => {
  const imf = imfFixdate.exec(text)
  if (imf !== null) {
    const [, day, monthName, year, hour, minute, second] = imf
    return instant(Number(year), monthName!, Number(day), Number(hour), Number(minute), Number(second))
  }
  const rfc850 = rfc850Date.exec(text)
  if (rfc850 !== null) {
    const [, day, monthName, yy, hour, minute, second] = rfc850
    const nowYear = new Date(now).getUTCFullYear()
    const at = (year: number) => instant(year, monthName!, Number(day), Number(hour), Number(minute), Number(second))
    const year = Math.floor(nowYear / 100) * 100 + Number(yy)
    if (year - nowYear > 50) return at(year - 100)
    const sameCentury = at(year)
    if (year - nowYear < 50 || sameCentury === undefined) return sameCentury
    const fiftyYearsOn = new Date(now)
    fiftyYearsOn.setUTCFullYear(nowYear + 50)
    return sameCentury > fiftyYearsOn.getTime() ? at(year - 100) : sameCentury
  }
  const asctime = asctimeDate.exec(text)
  if (asctime !== null) {
    const [, monthName, day, hour, minute, second, year] = asctime
    return instant(Number(year), monthName!, Number(day!.trim()), Number(hour), Number(minute), Number(second))
  }
  return undefined
}
