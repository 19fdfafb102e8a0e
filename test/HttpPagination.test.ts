import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as ApiEnvelope from "../src/Http/ApiEnvelope.js"
import * as HttpErrors from "../src/Http/HttpErrors.js"
import * as Pagination from "../src/Http/Pagination.js"

describe("Pagination.create", () => {
  it("matches the Python arithmetic for every page, limit and total", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.nat(100_000),
        (page, limit, total) => {
          const p = Pagination.create(page, limit, total)
          // Python: pages = (total + limit - 1) // limit if total > 0 else 0
          const pages = total > 0 ? Math.floor((total + limit - 1) / limit) : 0
          expect(p).toEqual({ page, limit, total, pages, has_next: page < pages, has_previous: page > 1 })
        }
      )
    )
  })

  it("has no pages, and no first/last link, when there is nothing", () => {
    expect(Pagination.create(1, 50, 0)).toMatchObject({ pages: 0, has_next: false, has_previous: false })
    expect(Pagination.createLinks("/items", 1, 50, 0)).toEqual({ self: "/items?page=1&limit=50" })
  })

  it("links: order, neighbours and query params kept before page/limit", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 0, max: 50 }), (page, pages) => {
        const links = Pagination.createLinks("/b", page, 10, pages, [["q", "x"], ["page", "9"]])
        const url = (n: number) => `/b?q=x&page=${n}&limit=10`
        expect(links.self).toBe(url(page))
        expect(links.next).toBe(page < pages ? url(page + 1) : undefined)
        expect(links.previous).toBe(page > 1 ? url(page - 1) : undefined)
        expect(links.first).toBe(pages > 0 ? url(1) : undefined)
        expect(links.last).toBe(pages > 0 ? url(pages) : undefined)
      })
    )
  })
})

describe("ApiEnvelope.paginatedBody links", () => {
  const linksOf = (url: string, page: ApiEnvelope.Page<never>) =>
    Effect.runSync(
      ApiEnvelope.paginatedBody(page).pipe(
        Effect.provideService(
          HttpServerRequest.HttpServerRequest,
          HttpServerRequest.fromWeb(new Request(`http://localhost${url}`))
        )
      )
    ).links

  it("keep the request's other query parameters as written, so each link names the same values", () => {
    const query = "q=a%26limit%3D1000%23x&tag=caf%C3%A9&sp=a+b&pag%65=7&limit=20&flag&&pct=100%25"
    const links = linksOf(`/api/v1/items?${query}`, { items: [], page: 2, limit: 20, total: 100 })
    const kept = "q=a%26limit%3D1000%23x&tag=caf%C3%A9&sp=a+b&flag=&pct=100%25"
    expect(links.next).toBe(`/api/v1/items?${kept}&page=3&limit=20`)
    expect(links.self).toBe(`/api/v1/items?${kept}&page=2&limit=20`)
    const next = new URL(links.next!, "http://localhost")
    expect(next.hash).toBe("")
    expect([...next.searchParams]).toEqual([
      ["q", "a&limit=1000#x"],
      ["tag", "café"],
      ["sp", "a b"],
      ["flag", ""],
      ["pct", "100%"],
      ["page", "3"],
      ["limit", "20"]
    ])
  })
})

describe("PaginationParams", () => {
  const decode = Schema.decodeUnknownEither(Pagination.PaginationParams)
  it("defaults page=1, limit=50 and accepts the bounds", () => {
    expect(decode({})).toEqual(Either.right({ page: 1, limit: 50 }))
    expect(decode({ page: "3", limit: "1000" })).toEqual(Either.right({ page: 3, limit: 1000 }))
    expect(decode({ limit: "1" })).toEqual(Either.right({ page: 1, limit: 1 }))
  })
  it("refuses page < 1, limit outside 1..1000 and non-integers", () => {
    for (
      const input of [{ page: "0" }, { page: "-1" }, { limit: "0" }, { limit: "1001" }, { limit: "100000" }, {
        page: "1.5"
      }, { page: "abc" }]
    ) {
      expect(Either.isLeft(decode(input)), JSON.stringify(input)).toBe(true)
    }
  })
  it("refuses Infinity, exponents and integers a number cannot hold, naming the field and the bound", () => {
    const problems = (input: Record<string, string>) =>
      Either.match(Schema.decodeUnknownEither(Pagination.PaginationParams, { errors: "all" })(input), {
        onLeft: (error) => HttpErrors.fromParseError(error, "query").details["validation_errors"],
        onRight: () => []
      })
    const intParsing = "Input should be a valid integer, unable to parse string as an integer"
    for (const page of ["Infinity", "-Infinity", "1e400", "1e3", "NaN", "0x10", "1.5"]) {
      expect(problems({ page })).toEqual([{ field: "query.page", message: intParsing, type: "int_parsing" }])
    }
    for (const page of ["9007199254740993", "99999999999999999999999", String(Pagination.maxPage + 1)]) {
      expect(problems({ page })).toEqual([{
        field: "query.page",
        message: `Input should be less than or equal to ${Pagination.maxPage}`,
        type: "less_than_equal"
      }])
    }
    expect(problems({ limit: "9007199254740993" })).toEqual([
      { field: "query.limit", message: "Input should be less than or equal to 1000", type: "less_than_equal" }
    ])
    expect(problems({ page: String(Pagination.maxPage), limit: "1000" })).toEqual([])
  })
  it("reads an integer as pydantic 2 reads a query int: `_` between digits, a fraction of zeros", () => {
    // What pydantic 2.13 (pydantic-core 2.46) answers for `page: int = Query(1, ge=1)`: the value, or the error type.
    const pydantic: ReadonlyArray<readonly [string, number | string]> = [
      ["2", 2],
      ["+2", 2],
      ["02", 2],
      [" 2 ", 2],
      ["\t2\n", 2],
      ["\u00a02\u3000", 2],
      ["\u20282", 2],
      ["\u00852", 2],
      ["2.0", 2],
      ["2.00", 2],
      ["1_0", 10],
      ["1_00_0", 1000],
      ["1_0.0", 10],
      ["1_000.00", 1000],
      ["-0", "greater_than_equal"],
      ["0_0", "greater_than_equal"],
      ["-1_0", "greater_than_equal"],
      ["2.", "int_parsing"],
      [".0", "int_parsing"],
      ["2.5", "int_parsing"],
      ["2.0e0", "int_parsing"],
      ["1.0_0", "int_parsing"],
      ["1__0", "int_parsing"],
      ["_1", "int_parsing"],
      ["1_", "int_parsing"],
      ["+_1", "int_parsing"],
      ["+ 2", "int_parsing"],
      ["--2", "int_parsing"],
      ["\ufeff2", "int_parsing"],
      ["\u200b2", "int_parsing"],
      ["\u180e2", "int_parsing"],
      ["\x1c2", "int_parsing"],
      ["\u0662", "int_parsing"],
      ["\uff11\uff12", "int_parsing"],
      ["  ", "int_parsing"],
      ["", "int_parsing"]
    ]
    for (const [page, expected] of pydantic) {
      const result = Schema.decodeUnknownEither(Pagination.PaginationParams, { errors: "all" })({ page })
      const got = Either.match(result, {
        onLeft: (error) =>
          (HttpErrors.fromParseError(error, "query").details["validation_errors"] as ReadonlyArray<{ type: string }>)[0]
            ?.type,
        onRight: (params) => params.page
      })
      const shown = page.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
      expect(got, shown).toBe(expected)
    }
    expect(decode({ page: "1_000", limit: "1_000.0" })).toEqual(Either.right({ page: 1000, limit: 1000 }))
    expect(Either.isLeft(decode({ limit: "1_001" }))).toBe(true)
  })
  it("accepts only pages and limits whose offset is an exact integer (property)", () => {
    const digits = fc.oneof(
      fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String),
      fc.integer({ min: -5, max: 2000 }).map(String),
      fc.constantFrom("Infinity", "-Infinity", "NaN", "1e400", "1e3", "9007199254740993", "-0", " 7 ", ""),
      fc.tuple(fc.array(fc.integer({ min: 0, max: 999 }), { minLength: 1, maxLength: 6 }), fc.nat(3)).map((
        [groups, zeros]
      ) => `${groups.join("_")}${zeros === 0 ? "" : `.${"0".repeat(zeros)}`}`),
      fc.string()
    )
    fc.assert(
      fc.property(fc.record({ page: digits, limit: digits }, { requiredKeys: [] }), (input) => {
        const result = decode(input)
        if (Either.isLeft(result)) return
        const { limit, page } = result.right
        expect(Number.isSafeInteger(page) && page >= 1 && page <= Pagination.maxPage).toBe(true)
        expect(Number.isSafeInteger(limit) && limit >= 1 && limit <= 1000).toBe(true)
        expect(Number.isSafeInteger(Pagination.offset(result.right))).toBe(true)
        // What was accepted is exactly what was written.
        const written = (text: string) => BigInt(text.trim().replaceAll("_", "").replace(/\.0+$/, ""))
        if (input.page !== undefined) expect(BigInt(page)).toBe(written(input.page))
        if (input.limit !== undefined) expect(BigInt(limit)).toBe(written(input.limit))
      }),
      { numRuns: 2000 }
    )
  })
})

describe("timestamps", () => {
  it("writes microseconds and Z as pydantic, +00:00 as isoformat(), no fraction when zero", () => {
    expect(ApiEnvelope.formatTimestamp(1795961007512934n)).toBe("2026-11-29T14:03:27.512934Z")
    expect(ApiEnvelope.formatTimestamp(1795961007512934n, "+00:00")).toBe("2026-11-29T14:03:27.512934+00:00")
    expect(ApiEnvelope.formatTimestamp(1795961007000000n)).toBe("2026-11-29T14:03:27Z")
    expect(ApiEnvelope.formatTimestamp(1795961007000001n)).toBe("2026-11-29T14:03:27.000001Z")
  })
})
