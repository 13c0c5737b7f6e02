import type { ErrorRequestHandler, RequestHandler } from "express";
import { z } from "zod";
import { AppError, NotFoundError } from "../errors.ts";
import type { Logger } from "../logging/logger.ts";

/** JSON body of every error response. */
export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/** Answers 404 JSON for any route nothing else handled. */
export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new NotFoundError(`No route for ${req.method} ${req.path}`));
};

/**
 * The one place errors become HTTP responses: AppError keeps its status and code, body-parser errors
 * become 400/413, zod errors 400 with each field, anything else 500 without internals.
 */
export function errorMiddleware(logger: Logger): ErrorRequestHandler {
  // A dependency being down (503) is an expected state that can hit every request: log it as a warning, at most
  // once a second per error code, with how many were left out. Anything else at 500+ is a bug: every one logged.
  const unavailable = new Map<string, { loggedAt: number; suppressed: number }>();
  return (error, req, res, _next) => {
    const { status, body } = toResponse(error);
    if (status === 503) {
      const now = Date.now();
      const seen = unavailable.get(body.error.code);
      if (seen && now - seen.loggedAt < 1_000) seen.suppressed += 1;
      else {
        logger.warn({ err: error, path: req.path, similarSinceLastLog: seen?.suppressed ?? 0 }, "request failed: a dependency is unavailable");
        unavailable.set(body.error.code, { loggedAt: now, suppressed: 0 });
      }
    } else if (status >= 500) logger.error({ err: error, path: req.path }, "request failed");
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(status).json(body);
  };
}

function toResponse(error: unknown): { status: number; body: ErrorBody } {
  if (error instanceof AppError) {
    return {
      status: error.status,
      body: { error: { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) } },
    };
  }
  if (error instanceof z.ZodError) {
    return {
      status: 400,
      body: {
        error: {
          code: "E_VALIDATION",
          message: error.issues.map((issue) => `${issue.path.join(".") || "input"}: ${issue.message}`).join("; "),
          details: error.issues.map((issue) => ({ field: issue.path.join("."), message: issue.message })),
        },
      },
    };
  }
  // body-parser marks its errors with `type` and `status` (malformed JSON, too large, bad charset).
  const parserError = error as { type?: string; status?: number; message?: string };
  if (typeof parserError.type === "string" && typeof parserError.status === "number" && parserError.status < 500) {
    const code = parserError.type === "entity.too.large" ? "E_PAYLOAD_TOO_LARGE" : "E_BAD_REQUEST_BODY";
    return { status: parserError.status, body: { error: { code, message: parserError.message ?? "bad request body" } } };
  }
  return { status: 500, body: { error: { code: "E_INTERNAL", message: "Internal server error" } } };
}
