import type { Logger } from "../../logging/logger.ts";
import { LogThrottle } from "../../logging/log-throttle.ts";
import type { RequestObserver } from "./request-observers.ts";

/** Options of the request log. */
export interface RequestLogOptions {
  logger: Logger;
  /** Completed requests slower than this are logged at warn (HTTP_SLOW_REQUEST_MS, default 1,000; 0 disables). */
  slowMs?: number;
  /** Fraction of completed requests logged at info (HTTP_LOG_SAMPLE_RATE, default 0). */
  sampleRate?: number;
}

/**
 * Logs completed requests only when they are worth a line: slow ones at warn (at most one line a second, with the
 * count left out, so an outage that slows every request cannot flood the log) and a configurable sample at info.
 * Failed requests are logged by the error middleware at their code's level. This replaces pino-http, which cost
 * 27.5% of the service's CPU under load even at level warn (a child logger and serializers per request).
 * An observer for `observeRequests` (undefined when it would log nothing).
 */
export function requestLog(options: RequestLogOptions): RequestObserver | undefined {
  const slowMs = options.slowMs ?? 1_000;
  const sampleRate = options.sampleRate ?? 0;
  const logger = options.logger;
  const throttle = new LogThrottle();
  if (slowMs <= 0 && sampleRate <= 0) return undefined;
  return (req, res, elapsedMs, completed) => {
    // A request whose client left before the response finished is no completed request.
    if (!completed) return;
    const ms = Math.round(elapsedMs * 10) / 10;
    const fields = () => ({ method: req.method, path: req.path.slice(0, 200), status: res.statusCode, ms });
    if (slowMs > 0 && ms >= slowMs) {
      const suppressed = throttle.admit("slow");
      if (suppressed !== undefined) logger.warn({ ...fields(), similarSinceLastLog: suppressed }, "slow request");
    } else if (sampleRate > 0 && Math.random() < sampleRate) logger.info(fields(), "request completed");
  };
}
