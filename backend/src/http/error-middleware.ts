import type { ErrorRequestHandler, RequestHandler } from "express";
import { z } from "zod";
import { AppError, ERRORS, NotFoundError, type ErrorCode } from "../errors.ts";
import type { Logger } from "../logging/logger.ts";
import { LogThrottle } from "../logging/log-throttle.ts";

/** JSON body of every error response. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}

/** Answers 404 JSON for any route nothing else handled. */
export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new NotFoundError(`No route for ${req.method} ${req.path.slice(0, 200)}`));
};

/**
 * The one place errors become HTTP responses. Coded errors (AppError, the cache layer's errors) keep the status of
 * their code in `ERRORS`; zod errors are 400 with each field; what Express, body-parser, zlib and
 * `decodeURIComponent` throw for malformed requests is a 4xx naming the problem; anything else is a 500 without
 * internals. Each error is logged at its code's level; warn and error lines are throttled per code (the first of a
 * second is written, the next one carries how many were left out), and only bugs (E_INTERNAL) carry a stack.
 */
export function errorMiddleware(logger: Logger): ErrorRequestHandler {
  const throttle = new LogThrottle();
  return (error, req, res, _next) => {
    const { status, body } = toResponse(error);
    const level = ERRORS[body.error.code].level;
    if (logger.isLevelEnabled(level)) {
      // Bugs are throttled per message (different bugs stay visible); expected failures per code.
      const throttleKey =
        body.error.code === "E_INTERNAL" ? `E_INTERNAL:${(error as Error)?.message}` : body.error.code;
      const suppressed = level === "warn" || level === "error" ? throttle.admit(throttleKey) : 0;
      if (suppressed !== undefined) {
        const fields = {
          code: body.error.code,
          status,
          method: req.method,
          path: req.path.slice(0, 200),
          similarSinceLastLog: suppressed,
        };
        if (body.error.code === "E_INTERNAL") logger.error({ ...fields, err: error }, "request failed");
        else
          logger[level](
            { ...fields, reason: describe(error) },
            status >= 500 ? "request failed: a dependency is unavailable" : "request refused",
          );
      }
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (status === 401) res.set("WWW-Authenticate", 'Bearer realm="spywatcher"');
    res.status(status).json(body);
  };
}

/** Maps any thrown value to the status and body the client gets. Exported for the WebSocket server and tests. */
export function toResponse(error: unknown): { status: number; body: ErrorBody } {
  if (error instanceof AppError) return coded(error.code, error.message, error.details);
  if (error instanceof z.ZodError) {
    return coded(
      "E_VALIDATION",
      error.issues.map((issue) => `${issue.path.join(".") || "input"}: ${issue.message}`).join("; "),
      error.issues.map((issue) => ({ field: issue.path.join("."), message: issue.message })),
    );
  }
  // Express's router decodes path parameters with decodeURIComponent: "%ff" throws a URIError (with status 400).
  if (error instanceof URIError) return coded("E_BAD_REQUEST", "The request path is not valid percent-encoding");
  const http = error as {
    type?: unknown;
    status?: unknown;
    statusCode?: unknown;
    code?: unknown;
    errno?: unknown;
    message?: unknown;
  };
  // body-parser marks its errors with `type` (malformed JSON, too large, unsupported charset or encoding).
  switch (http.type) {
    case "entity.too.large":
      return coded("E_PAYLOAD_TOO_LARGE", String(http.message));
    case "encoding.unsupported":
    case "charset.unsupported":
      return coded("E_UNSUPPORTED_MEDIA_TYPE", String(http.message));
    case "entity.parse.failed":
      return coded("E_BAD_REQUEST_BODY", "The request body is not valid JSON");
    case "request.aborted":
    case "request.size.invalid":
    case "stream.encoding.set":
    case "stream.not.readable":
      return coded("E_BAD_REQUEST_BODY", String(http.message));
  }
  // zlib errors of a corrupt "Content-Encoding: gzip/deflate/br" body (Z_DATA_ERROR, Z_BUF_ERROR, ...).
  if (typeof http.code === "string" && http.code.startsWith("Z_") && typeof http.errno === "number") {
    return coded(
      "E_BAD_REQUEST_BODY",
      "The request body could not be decompressed: it does not match its Content-Encoding",
    );
  }
  // Any other client error from Express or its dependencies (http-errors carry a 4xx status).
  const statusOf =
    typeof http.status === "number" ? http.status : typeof http.statusCode === "number" ? http.statusCode : undefined;
  if (statusOf !== undefined && statusOf >= 400 && statusOf < 500) {
    const code =
      statusOf === 413
        ? "E_PAYLOAD_TOO_LARGE"
        : statusOf === 415
          ? "E_UNSUPPORTED_MEDIA_TYPE"
          : statusOf === 404
            ? "E_NOT_FOUND"
            : "E_BAD_REQUEST";
    return {
      status: statusOf,
      body: {
        error: { code, message: typeof http.message === "string" ? http.message.slice(0, 200) : ERRORS[code].message },
      },
    };
  }
  return coded("E_INTERNAL", ERRORS.E_INTERNAL.message);
}

function coded(code: ErrorCode, message: string, details?: unknown): { status: number; body: ErrorBody } {
  return { status: ERRORS[code].status, body: { error: { code, message, ...(details ? { details } : {}) } } };
}

// One line about an expected failure: its message and the last line of its cause's (Prisma's messages quote
// source code above the reason), never a stack.
function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const causeLines =
    error instanceof Error && error.cause instanceof Error ? error.cause.message.trim().split("\n") : [];
  const cause = causeLines.length ? `: ${causeLines[causeLines.length - 1]!.trim()}` : "";
  return `${message}${cause}`.slice(0, 500);
}
