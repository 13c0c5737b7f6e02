import { describe, expect, it } from "vitest";
import { backoffDelayMs } from "../../../backend/src/lib/retry.ts";
import { isPermanentWriteError, sqlStateOf, writeBackoff } from "../../../backend/src/ingest/write-errors.ts";

/** The shape Prisma 7's driver adapter gives a PostgreSQL error (as observed from the real client). */
const prismaError = (cause: Record<string, unknown>) =>
  Object.assign(new Error("Invalid invocation"), {
    name: "PrismaClientKnownRequestError",
    code: "P2010",
    meta: { driverAdapterError: { name: "DriverAdapterError", cause } },
  });

describe("write error classification", () => {
  it("treats data exceptions and constraint violations as permanent", () => {
    expect(isPermanentWriteError(prismaError({ originalCode: "22021", kind: "postgres" }))).toBe(true);
    expect(isPermanentWriteError(prismaError({ originalCode: "23502", kind: "NullConstraintViolation" }))).toBe(true);
    expect(isPermanentWriteError(Object.assign(new Error("bad"), { name: "PrismaClientValidationError" }))).toBe(true);
    expect(sqlStateOf(prismaError({ originalCode: "22021" }))).toBe("22021");
  });

  it("treats outages, timeouts and unknown errors as transient (retried)", () => {
    expect(isPermanentWriteError(prismaError({ kind: "DatabaseNotReachable", host: "127.0.0.1", port: 1 }))).toBe(
      false,
    );
    expect(isPermanentWriteError(prismaError({ originalCode: "57P01", kind: "postgres" }))).toBe(false);
    expect(isPermanentWriteError(prismaError({ originalCode: "08006" }))).toBe(false);
    expect(isPermanentWriteError(new Error("socket hang up"))).toBe(false);
    expect(isPermanentWriteError(undefined)).toBe(false);
  });
});

describe("retry delay", () => {
  it("doubles from the base up to the ceiling, with at most 20% jitter below", () => {
    expect([1, 2, 3, 4, 10].map((attempt) => backoffDelayMs(attempt, writeBackoff(100, 1_000), () => 1))).toEqual([
      100, 200, 400, 800, 1_000,
    ]);
    expect(backoffDelayMs(3, writeBackoff(100, 1_000), () => 0)).toBe(320);
  });
});
