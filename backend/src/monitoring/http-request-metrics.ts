import type { RequestObserver } from "../http/middleware/request-observers.ts";
import { Histogram, type Registry } from "prom-client";
import { routeTemplate } from "./route-template.ts";

/** Histogram buckets in seconds: 1 ms (an L1 hit) up to 10 s (a slow loader under a hard timeout). */
const BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Times every request into `<prefix>http_request_duration_seconds{method, route, status}`, with `route` the matched
 * template (see `routeTemplate`), so the number of series stays bounded. A request whose client went away before
 * the response finished is counted with `status="aborted"`. Mount it through `observeRequests` (createApp's
 * `requestMetrics`), which starts the clock before any other middleware.
 */
export function httpRequestMetrics(registry: Registry, namePrefix = "spywatcher_"): RequestObserver {
  const histogram = new Histogram({
    name: `${namePrefix}http_request_duration_seconds`,
    help: "HTTP request duration in seconds, by method, route template and status",
    labelNames: ["method", "route", "status"] as const,
    buckets: BUCKETS_SECONDS,
    registers: [registry],
  });
  // One labelled child per (method, route, status), found by a string key: observing through it skips
  // prom-client's per-call label hashing, which showed in the CPU profile of a loaded service.
  const children = new Map<string, Histogram.Internal<"method" | "route" | "status">>();
  return (req, res, elapsedMs, completed) => {
    const route = routeTemplate(req, res);
    const status = completed ? String(res.statusCode) : "aborted";
    const key = `${req.method} ${status} ${route}`;
    let child = children.get(key);
    if (!child) {
      child = histogram.labels({ method: req.method, route, status });
      children.set(key, child);
    }
    child.observe(elapsedMs / 1000);
  };
}
