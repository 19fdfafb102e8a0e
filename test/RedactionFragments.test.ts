import { describe, expect, it } from "vitest"
import * as GlamConfig from "../src/Config/index.js"

describe("redactUrlCredentials: fragments", () => {
  it("hides the values of secret-looking parameters of a fragment, after a query too, keeping their names", () => {
    expect(GlamConfig.redactUrlCredentials("callback https://app/cb#access_token=tok123&state=xyz"))
      .toBe("callback https://app/cb#access_token=***&state=xyz")
    expect(GlamConfig.redactUrlCredentials("https://app/cb?page=2#id_token=tok123"))
      .toBe("https://app/cb?page=2#id_token=***")
    expect(GlamConfig.redactUrlCredentials("https://docs/page#section-2")).toBe("https://docs/page#section-2")
  })
})
