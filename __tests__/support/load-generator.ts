import http from "node:http";

/** One request of the load: a path (with query) and optional headers. */
export interface LoadRequest {
  path: string;
  headers?: Record<string, string>;
}

/** One answered request, as `LoadOptions.onAnswer` sees it (times are performance.now() ms). */
export interface LoadAnswer {
  request: LoadRequest;
  status: number;
  headers: http.IncomingHttpHeaders;
  sentAt: number;
  endedAt: number;
}

/** Options of `startLoad`. */
export interface LoadOptions {
  /** e.g. http://127.0.0.1:PORT */
  baseUrl: string;
  /** Requests in flight at once, each on its own keep-alive connection (default 8). */
  concurrency?: number;
  /** The next request to send (called once per request; `index` counts from 0). */
  next: (index: number) => LoadRequest;
  /** Total requests per second across workers; unset: as fast as the service answers (closed loop). */
  ratePerSecond?: number;
  /** Stops by itself after this long; unset: runs until `stop()`. */
  durationMs?: number;
  /** A request without an answer after this long counts as "timeout" (default 30 s). */
  timeoutMs?: number;
  /** Called with every answered request (e.g. to read its X-Cache header); must not throw. */
  onAnswer?: (answer: LoadAnswer) => void;
}

/** What a load run saw. Outcomes are HTTP statuses ("200", "503") or client errors ("ECONNRESET", "ECONNREFUSED", "timeout"). */
export interface LoadReport {
  total: number;
  byOutcome: Record<string, number>;
  /** Latency percentiles of answered requests (any status), in ms. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Answers that carried `Connection: close` (the server asked the client to go). */
  connectionClose: number;
  /** Outcomes per second since the start (index 0 = first second). */
  timeline: Record<string, number>[];
  durationMs: number;
}

/** A running load; `stop()` ends it and waits for the requests in flight. */
export interface RunningLoad {
  /** A report of what was seen so far (the load keeps running). */
  snapshot(): LoadReport;
  /** Stops sending, waits for requests in flight, closes the connections, and reports. */
  stop(): Promise<LoadReport>;
  /** Resolves when a `durationMs` run ends (or after `stop()`). */
  done: Promise<LoadReport>;
}

/** Pause of a worker after a connection error, so a refused port does not become a busy loop. */
const ERROR_PAUSE_MS = 10;

/**
 * A bounded HTTP load generator: `concurrency` workers on keep-alive connections (node:http Agent, the way a
 * dashboard's HTTP client behaves), closed loop or paced at `ratePerSecond`, counting outcomes by status and
 * connection error, with latency percentiles and a per-second timeline. autocannon has no per-second outcome
 * timeline nor a "connection: close" count, and fault tests need both to say when a fault started to show.
 */
export function startLoad(options: LoadOptions): RunningLoad {
  const concurrency = options.concurrency ?? 8;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const base = new URL(options.baseUrl);
  const started = performance.now();
  const latencies: number[] = [];
  const byOutcome: Record<string, number> = {};
  const timeline: Record<string, number>[] = [];
  let connectionClose = 0;
  let index = 0;
  let stopped = false;
  let endedAt = 0;

  const record = (outcome: string, sentAt: number, answered: boolean) => {
    const now = performance.now();
    if (answered) latencies.push(now - sentAt);
    byOutcome[outcome] = (byOutcome[outcome] ?? 0) + 1;
    const second = Math.floor((now - started) / 1000);
    while (timeline.length <= second) timeline.push({});
    timeline[second]![outcome] = (timeline[second]![outcome] ?? 0) + 1;
  };

  const send = (request: LoadRequest) =>
    new Promise<void>((resolve) => {
      const sentAt = performance.now();
      const req = http.request(
        {
          host: base.hostname,
          port: base.port,
          path: request.path,
          headers: request.headers,
          agent,
          timeout: timeoutMs,
        },
        (res) => {
          if (res.headers.connection?.toLowerCase() === "close") connectionClose += 1;
          res.resume();
          res.on("end", () => {
            record(String(res.statusCode), sentAt, true);
            options.onAnswer?.({
              request,
              status: res.statusCode ?? 0,
              headers: res.headers,
              sentAt,
              endedAt: performance.now(),
            });
            resolve();
          });
          res.on("error", () => {
            record("response-error", sentAt, false);
            resolve();
          });
        },
      );
      req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { code: "timeout" })));
      req.on("error", (error: NodeJS.ErrnoException) => {
        record(error.code ?? error.message, sentAt, false);
        setTimeout(resolve, ERROR_PAUSE_MS);
      });
      req.end();
    });

  // Pacing: request number n may start at n / rate seconds after the start.
  const waitForSlot = async (n: number) => {
    if (!options.ratePerSecond) return;
    const due = started + (n / options.ratePerSecond) * 1000;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  };

  const worker = async () => {
    while (!stopped) {
      const n = index++;
      await waitForSlot(n);
      if (stopped) return;
      await send(options.next(n));
    }
  };

  const report = (): LoadReport => {
    const sorted = [...latencies].sort((a, b) => a - b);
    const at = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : 0);
    return {
      total: Object.values(byOutcome).reduce((a, b) => a + b, 0),
      byOutcome: { ...byOutcome },
      p50Ms: Math.round(at(0.5) * 10) / 10,
      p99Ms: Math.round(at(0.99) * 10) / 10,
      maxMs: Math.round((sorted.at(-1) ?? 0) * 10) / 10,
      connectionClose,
      timeline: timeline.map((second) => ({ ...second })),
      durationMs: Math.round((endedAt || performance.now()) - started),
    };
  };

  const workers = Promise.all(Array.from({ length: concurrency }, worker));
  let stopping: Promise<LoadReport> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      stopped = true;
      await workers;
      endedAt = performance.now();
      agent.destroy();
      return report();
    })();
    return stopping;
  };
  const done = options.durationMs
    ? new Promise<void>((resolve) => setTimeout(resolve, options.durationMs).unref()).then(stop)
    : workers.then(() => stop());
  return { snapshot: report, stop, done };
}
