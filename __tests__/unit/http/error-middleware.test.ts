import express, { type Express } from "express";
import { pino } from "pino";
import request from "supertest";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  FactoryHardTimeoutError,
  InvalidDurationError,
  InvalidKeyError,
  CacheClosedError,
  CacheUnavailableError,
  NotACounterError,
} from "../../../backend/src/cache/cache-errors.ts";
import {
  CircuitOpenError,
  LockLostError,
  LockNotAcquiredError,
} from "../../../backend/src/cache/transport/resilience-errors.ts";
import {
  AppError,
  AuthRateLimitedError,
  DependencyUnavailableError,
  ERRORS,
  type ErrorCode,
} from "../../../backend/src/errors.ts";
import { errorMiddleware } from "../../../backend/src/http/error-middleware.ts";

/** An app whose one route throws `make()`, with a logger writing into `lines`. */
function appThrowing(make: () => unknown, lines: Record<string, unknown>[] = []): Express {
  const logger = pino({ level: "debug" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const app = express();
  app.get("/boom", () => {
    throw make();
  });
  app.use(errorMiddleware(logger));
  return app;
}

const PINO_LEVEL: Record<string, number> = { debug: 20, info: 30, warn: 40, error: 50 };

describe("error middleware", () => {
  it.each(Object.keys(ERRORS) as ErrorCode[])(
    "answers %s with its table status, code and message, logged at its level",
    async (code) => {
      const lines: Record<string, unknown>[] = [];
      const response = await request(appThrowing(() => new AppError(code), lines)).get("/boom");
      expect(response.status).toBe(ERRORS[code].status);
      expect(response.headers["content-type"]).toMatch(/application\/json/);
      expect(response.body).toEqual({ error: { code, message: ERRORS[code].message } });
      expect(lines).toHaveLength(1);
      expect(lines[0]!.level).toBe(PINO_LEVEL[ERRORS[code].level]);
      expect(lines[0]!.code).toBe(code);
      // Only bugs carry a stack; expected failures are one line with a reason.
      expect(JSON.stringify(lines[0])).toContain(code === "E_INTERNAL" ? '"stack"' : '"reason"');
      if (code !== "E_INTERNAL") expect(JSON.stringify(lines[0])).not.toContain('"stack"');
    },
  );

  it.each([
    ["FactoryHardTimeoutError", () => new FactoryHardTimeoutError("analytics:ghosts:1:x", 50), 504],
    ["InvalidKeyError", () => new InvalidKeyError("a b", "whitespace"), 400],
    ["InvalidDurationError", () => new InvalidDurationError("5 parsecs"), 400],
    ["CacheUnavailableError", () => new CacheUnavailableError("clear"), 503],
    ["CacheClosedError", () => new CacheClosedError(), 503],
    ["NotACounterError", () => new NotACounterError("k"), 500],
    ["CircuitOpenError", () => new CircuitOpenError(Date.now() + 1_000), 503],
    ["LockNotAcquiredError", () => new LockNotAcquiredError("l"), 503],
    ["LockLostError", () => new LockLostError("l"), 503],
    ["AuthRateLimitedError", () => new AuthRateLimitedError(7), 429],
    ["DependencyUnavailableError", () => new DependencyUnavailableError("postgres", "down"), 503],
  ] as const)("maps the cache layer's and the app's %s to its code's status", async (_name, make, status) => {
    const error = make();
    const response = await request(appThrowing(() => error)).get("/boom");
    expect(response.status).toBe(status);
    expect(response.body.error.code).toBe(error.code);
  });

  it("maps zod errors to 400 E_VALIDATION with each field", async () => {
    const response = await request(
      appThrowing(() => z.object({ limit: z.number() }).safeParse({ limit: "x" }).error),
    ).get("/boom");
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe("E_VALIDATION");
    expect(response.body.error.details[0].field).toBe("limit");
  });

  it("answers an unknown error 500 E_INTERNAL without internals", async () => {
    const response = await request(appThrowing(() => new Error("secret internals at db.internal:5432"))).get("/boom");
    expect(response.status).toBe(500);
    expect(response.body).toEqual({ error: { code: "E_INTERNAL", message: "Internal server error" } });
  });

  it("throttles a flood of one dependency failure to one line a second with the count left out", async () => {
    const lines: Record<string, unknown>[] = [];
    const app = appThrowing(() => new DependencyUnavailableError("postgres", "the database is unavailable"), lines);
    const startedAt = performance.now();
    for (let i = 0; i < 50; i += 1) await request(app).get("/boom").expect(503);
    const seconds = (performance.now() - startedAt) / 1_000;
    // One line per started second at most (a loaded machine may spread the 50 requests over more than one).
    expect(lines.length).toBeLessThanOrEqual(Math.ceil(seconds) + 1);
    expect(lines.every((line) => line.level === PINO_LEVEL.warn && !JSON.stringify(line).includes('"stack"'))).toBe(
      true,
    );
    expect(lines[0]!.similarSinceLastLog).toBe(0);
    if (lines.length > 1) expect(lines[1]!.similarSinceLastLog).toBeGreaterThan(0);
  });
});
