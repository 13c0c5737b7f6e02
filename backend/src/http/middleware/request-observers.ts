import type { Request, RequestHandler, Response } from "express";

/** Told about each request once its response is done: `elapsedMs` since it arrived; `res.writableFinished` false when the client left first. */
export type RequestObserver = (req: Request, res: Response, elapsedMs: number) => void;

/**
 * One middleware and one `close` listener per request for every observer (the metrics timer, the request log):
 * each used to add its own listener, and listener bookkeeping showed in the CPU profile of a loaded service.
 * `close` follows `finish` for a completed response; without `finish` the client went away first. Install it first.
 */
export function observeRequests(observers: readonly RequestObserver[]): RequestHandler {
  if (observers.length === 0) return (_req, _res, next) => next();
  return (req, res, next) => {
    const started = performance.now();
    res.once("close", () => {
      const elapsedMs = performance.now() - started;
      for (const observe of observers) observe(req, res, elapsedMs);
    });
    next();
  };
}
