import { SqlError } from "@effect/sql/SqlError"
import { Cause, Effect, Exit, Option } from "effect"
import * as fc from "fast-check"
import { describe, expect, it } from "vitest"
import { ConflictError, DatabaseError, ValidationError } from "../src/Errors/index.js"
import * as Sql from "../src/Sql/index.js"

const pgError = (fields: Record<string, string>) => Object.assign(new Error("server said something"), fields)

describe("Sql error classification", () => {
  it("reads the SQLSTATE under SqlError and keeps the driver error as the cause", () => {
    const driver = pgError({ code: "23505", constraint: "uq_items_sku", table: "items" })
    const error = Sql.SqlErrors.classifySqlError(
      new SqlError({ cause: driver, message: "Failed to execute statement" })
    )
    expect(error).toBeInstanceOf(ConflictError)
    expect(error.details).toEqual({ constraint: "uq_items_sku", conflicting_resource: "items" })
    expect(error.message).toBe("Unique constraint uq_items_sku violated")
    expect((error.cause as SqlError).cause).toBe(driver)
  })

  it("treats lost sockets and closed clients as retryable connection loss", () => {
    for (
      const cause of [
        new Error("Connection terminated unexpectedly"),
        new Error("Client has encountered a connection error and is not queryable"),
        Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }),
        pgError({ code: "57P01" }),
        pgError({ code: "08006" })
      ]
    ) {
      const error = Sql.SqlErrors.classifySqlError(new SqlError({ cause }))
      expect(error).toBeInstanceOf(DatabaseError)
      expect(error.retryable).toBe(true)
      expect(error.message).toBe("Database connection lost")
    }
  })

  it("never copies the server's message, and only known transient states are retryable", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9A-Z]{5}$/), fc.string(), (state, text) => {
        const error = Sql.SqlErrors.classifySqlError(
          new SqlError({ cause: Object.assign(new Error(`secret ${text}`), { code: state }) })
        )
        expect(error.message).not.toContain("secret")
        const transient = ["40001", "40P01", "57P01", "57P02", "57P03", "57014", "55P03"].includes(state) ||
          state.startsWith("08") || state.startsWith("53")
        expect(error.retryable).toBe(transient)
        if (state === "23505" || state === "23P01") expect(error).toBeInstanceOf(ConflictError)
        else if (state.startsWith("23") || state.startsWith("22")) expect(error).toBeInstanceOf(ValidationError)
        else expect(error).toBeInstanceOf(DatabaseError)
      })
    )
  })

  it("mapSqlErrors types SqlError failures and SqlError defects, and leaves other defects alone", async () => {
    const failed = await Effect.runPromiseExit(
      Effect.fail(new SqlError({ cause: pgError({ code: "40P01" }) })).pipe(
        Sql.SqlErrors.mapSqlErrors({ operation: "x" })
      )
    )
    expect(Exit.isFailure(failed) && Option.getOrThrow(Cause.failureOption(failed.cause))).toMatchObject({
      _tag: "DatabaseError",
      retryable: true,
      details: { operation: "x", error_code: "40P01" }
    })
    const died = await Effect.runPromiseExit(
      Effect.die(new SqlError({ cause: new Error("Connection terminated unexpectedly") })).pipe(
        Sql.SqlErrors.mapSqlErrors()
      )
    )
    expect(Exit.isFailure(died) && Option.getOrThrow(Cause.failureOption(died.cause))).toBeInstanceOf(DatabaseError)
    const bug = await Effect.runPromiseExit(Effect.die(new TypeError("a bug")).pipe(Sql.SqlErrors.mapSqlErrors()))
    expect(Exit.isFailure(bug) && Cause.isDie(bug.cause)).toBe(true)
  })

  it("the naming convention refuses names that are not plain identifiers", () => {
    expect(Sql.ModelMixins.naming.fk("items", "merchant_id", "merchants")).toBe("fk_items_merchant_id_merchants")
    expect(Sql.ModelMixins.naming.pk("items")).toBe("pk_items")
    expect(() => Sql.ModelMixins.naming.ix("items; drop", "x")).toThrow(TypeError)
  })
})
