import type { Request, RequestHandler, Response } from "express";

/**
 * Told about each request once its response is done: `elapsedMs` since it arrived; `completed` false when the
 * client left before the response was finished.
 */
export type RequestObserver = (req: Request, res: Response, elapsedMs: number, completed: boolean) => void;

/**
 * One middleware and one `close` listener per request for every observer (the metrics timer, the request log):
 * each used to add its own listener, and listener bookkeeping showed in the CPU profile of a loaded service.
 * `close` follows `finish` for a completed response; without `finish` the client went away first. Install it first.
 */
export function observeRequests(observers: readonly RequestObserver[]): RequestHandler {
  if (observers.length === 0) return (_req, _res, next) => next();
  const observe = observeResponse(observers);
  return (req, res, next) => {
    observe(req, res, performance.now());
    next();
  };
}

/** What `observeRequests` does for one request, timed from `started` (`performance.now()` at its arrival). */
export function observeResponse(
  observers: readonly RequestObserver[],
): (req: Request, res: Response, started: number) => void {
  if (observers.length === 0) return () => undefined;
  return (req, res, started) => {
    res.once("close", () => {
      const elapsedMs = performance.now() - started;
      const completed = res.writableFinished;
      for (const observe of observers) observe(req, res, elapsedMs, completed);
    });
  };
}
