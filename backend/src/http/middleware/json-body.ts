import express, { type RequestHandler } from "express";
import { AppError } from "../../errors.ts";

/** Largest JSON body a route accepts. */
export const JSON_BODY_LIMIT = "100kb";

/**
 * Parses a JSON body, for routes that take one; mount it after authentication so an unauthenticated client
 * cannot make the service parse 100 kB of nested JSON. A body with another content type is refused with 415
 * E_UNSUPPORTED_MEDIA_TYPE (instead of reaching the route as `undefined`); malformed JSON, an unsupported
 * Content-Encoding or charset, a corrupt compressed body and oversize bodies become 4xx in the error middleware.
 */
export function jsonBody(): RequestHandler {
  const parse = express.json({ limit: JSON_BODY_LIMIT });
  return (req, res, next) => {
    const hasBody = req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
    if (hasBody && !req.is("application/json")) {
      next(
        new AppError(
          "E_UNSUPPORTED_MEDIA_TYPE",
          `The request body must be JSON (Content-Type: application/json), not ${String(req.headers["content-type"] ?? "untyped").slice(0, 100)}`,
        ),
      );
      return;
    }
    parse(req, res, next);
  };
}
