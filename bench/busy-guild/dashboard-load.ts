import { ANALYTICS_TYPES, type AnalyticsType } from "../../backend/src/analytics/analytics-catalog.ts";
import { reflectedCounts, type ReflectedCounts } from "./reflected-counts.ts";

/** One dashboard request and what came back. Times are performance.now() ms. */
export interface DashboardSample {
  target: "analytics" | "static";
  type: AnalyticsType;
  startedAt: number;
  endedAt: number;
  status: number;
  /** X-Cache of an analytics response (HIT, MISS, STALE, BYPASS); undefined for the static endpoint or on error. */
  cache: string | undefined;
  /** Counts the analytics body reflects (analytics 200 responses only). */
  counts?: ReflectedCounts;
  error?: string;
}

/** Where and how the dashboard load is sent. */
export interface DashboardLoadOptions {
  /** Base URL of the service, e.g. http://127.0.0.1:PORT. */
  serviceUrl: string;
  /** Base URL of the static JSON endpoint (the limit), serving `/static/<type>`. */
  staticUrl: string;
  apiKey: string;
  guildId: string;
  /** Analytics requests per second, round-robin over the six analytics. */
  requestsPerSecond: number;
  /** Static endpoint requests per second, same round-robin, sent between the analytics requests. */
  staticRequestsPerSecond: number;
  /** How long to send, ms. */
  durationMs: number;
  /** `since` of every request (default 15m). */
  since?: string;
}

const TICK_MS = 5;

/**
 * Open-loop dashboard traffic: requests go out at a fixed rate whether or not earlier ones have answered (as many
 * dashboards would), so a slow server shows up as latency instead of as a lower request rate. Resolves with every
 * sample once the last request has answered.
 */
export async function runDashboardLoad(options: DashboardLoadOptions): Promise<DashboardSample[]> {
  const samples: DashboardSample[] = [];
  const inFlight = new Set<Promise<void>>();
  const headers = { authorization: `Bearer ${options.apiKey}` };
  const since = options.since ?? "15m";
  const query = `guildId=${options.guildId}&since=${since}`;
  let sentAnalytics = 0;
  let sentStatic = 0;

  const send = (target: DashboardSample["target"], type: AnalyticsType): void => {
    const url =
      target === "analytics"
        ? `${options.serviceUrl}/api/analytics/${type}?${query}`
        : `${options.staticUrl}/static/${type}`;
    const request = timedRequest(url, headers, target, type).then((sample) => void samples.push(sample));
    inFlight.add(request);
    void request.finally(() => inFlight.delete(request));
  };

  const start = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = performance.now() - start;
      const done = elapsed >= options.durationMs;
      const horizon = Math.min(elapsed, options.durationMs) / 1000;
      // Catch up on every request owed so far: timer jitter changes when requests go out, not how many.
      for (; sentAnalytics < Math.floor(horizon * options.requestsPerSecond); sentAnalytics++) {
        send("analytics", ANALYTICS_TYPES[sentAnalytics % ANALYTICS_TYPES.length]!);
      }
      // Static requests go out half a period late, between analytics requests rather than on top of them.
      for (; sentStatic < Math.floor(horizon * options.staticRequestsPerSecond - 0.5); sentStatic++) {
        send("static", ANALYTICS_TYPES[sentStatic % ANALYTICS_TYPES.length]!);
      }
      if (done) {
        clearInterval(timer);
        resolve();
      }
    }, TICK_MS);
  });
  while (inFlight.size > 0) await Promise.all([...inFlight]);
  return samples.sort((a, b) => a.startedAt - b.startedAt);
}

async function timedRequest(
  url: string,
  headers: Record<string, string>,
  target: DashboardSample["target"],
  type: AnalyticsType,
): Promise<DashboardSample> {
  const startedAt = performance.now();
  try {
    const response = await fetch(url, { headers });
    const text = await response.text();
    const endedAt = performance.now();
    const sample: DashboardSample = {
      target,
      type,
      startedAt,
      endedAt,
      status: response.status,
      cache: target === "analytics" ? (response.headers.get("x-cache") ?? undefined) : undefined,
    };
    if (response.status !== 200) sample.error = text.slice(0, 200);
    else if (target === "analytics") sample.counts = reflectedCounts(type, JSON.parse(text));
    return sample;
  } catch (error) {
    return {
      target,
      type,
      startedAt,
      endedAt: performance.now(),
      status: 0,
      cache: undefined,
      error: error instanceof Error ? error.message : String(error),
    };
  }
}
