import { Counter, Gauge, type Registry } from "prom-client";
import type { AlertMonitor } from "./alert-monitor.ts";
import type { RedisNodeInfo } from "./alert-sample.ts";

/**
 * Exposes the alert monitor's state and the readings only it takes, all read at scrape time from its last
 * evaluation (so they are at most ALERT_EVAL_INTERVAL_MS old and a scrape costs no extra Redis or SQL call):
 * - `<prefix>alerts_firing{alert, severity}`: 1 while the rule fires, else 0 (every rule has a series)
 * - `<prefix>alert_last_evaluation_timestamp_seconds`
 * - `<prefix>alert_webhook_deliveries_total{outcome="delivered"|"failed_attempt"|"dropped"}` (with a webhook)
 * - `<prefix>readiness_check_up{check}`: 1 when the readiness check passed, 0 when it failed
 * - `<prefix>redis_memory_used_bytes{node}`, `<prefix>redis_memory_max_bytes{node}` (0: no maxmemory)
 * - `<prefix>redis_evicted_keys_total{node}` (INFO evicted_keys of each master; server-wide)
 * - `<prefix>ingest_buffer_capacity_rows` (INGEST_MAX_BUFFERED_ROWS; only with the Discord side)
 * A reading that is unknown or absent exports no series at all: never a 0 that a rule would read as a value (or, for
 * a counter, as a reset followed by an increase).
 */
export function registerAlertMetrics(
  registry: Registry,
  monitor: Pick<AlertMonitor, "report" | "lastSample">,
  namePrefix = "spywatcher_",
): void {
  const name = (suffix: string) => `${namePrefix}${suffix}`;
  new Gauge({
    name: name("alerts_firing"),
    help: "1 while the alert rule fires on this instance, else 0 (docs/alerts.md)",
    labelNames: ["alert", "severity"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const alert of monitor.report().alerts)
        this.set({ alert: alert.id, severity: alert.severity }, alert.state === "firing" ? 1 : 0);
    },
  });
  new Gauge({
    name: name("alert_last_evaluation_timestamp_seconds"),
    help: "Unix time of the alert monitor's last evaluation",
    registers: [registry],
    collect() {
      const sample = monitor.lastSample();
      // reset() would leave an unlabelled 0 (1970), which looks like a stale monitor: no series before the first run.
      if (sample) this.set(sample.at / 1_000);
      else this.remove();
    },
  });
  new Counter({
    name: name("alert_webhook_deliveries_total"),
    help: "Alert webhook payloads delivered, attempts failed, payloads dropped",
    labelNames: ["outcome"] as const,
    registers: [registry],
    collect() {
      this.reset();
      const stats = monitor.report().webhook;
      if (!stats) return;
      this.inc({ outcome: "delivered" }, stats.delivered);
      this.inc({ outcome: "failed_attempt" }, stats.failedAttempts);
      this.inc({ outcome: "dropped" }, stats.dropped);
    },
  });
  new Gauge({
    name: name("readiness_check_up"),
    help: "1 when the readiness check (as GET /health/ready) passed at the last alert evaluation, 0 when it failed",
    labelNames: ["check"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const check of monitor.lastSample()?.readiness ?? []) this.set({ check: check.name }, check.up ? 1 : 0);
    },
  });
  const perNode = (metric: Gauge<"node"> | Counter<"node">, pick: (node: RedisNodeInfo) => number) => {
    metric.reset();
    const reading = monitor.lastSample()?.redis;
    // Unknown readings leave the series out rather than reporting a fake 0.
    if (!reading || "unknown" in reading) return;
    for (const node of reading.nodes) {
      if (metric instanceof Counter) metric.inc({ node: node.node }, pick(node));
      else metric.set({ node: node.node }, pick(node));
    }
  };
  new Gauge({
    name: name("redis_memory_used_bytes"),
    help: "Redis used_memory of each master (INFO memory)",
    labelNames: ["node"] as const,
    registers: [registry],
    collect() {
      perNode(this, (node) => node.usedBytes);
    },
  });
  new Gauge({
    name: name("redis_memory_max_bytes"),
    help: "Redis maxmemory of each master (0: not set)",
    labelNames: ["node"] as const,
    registers: [registry],
    collect() {
      perNode(this, (node) => node.maxBytes);
    },
  });
  new Counter({
    name: name("redis_evicted_keys_total"),
    help: "Keys each Redis master evicted (INFO evicted_keys; server-wide, not only this application's)",
    labelNames: ["node"] as const,
    registers: [registry],
    collect() {
      perNode(this, (node) => node.evictedKeys);
    },
  });
  new Gauge({
    name: name("ingest_buffer_capacity_rows"),
    help: "Rows the ingestion writer may buffer (INGEST_MAX_BUFFERED_ROWS)",
    registers: [registry],
    collect() {
      const ingest = monitor.lastSample()?.ingest;
      // Without the Discord side there is no buffer: no series (reset() would export an unlabelled 0).
      if (ingest) this.set(ingest.capacity);
      else this.remove();
    },
  });
}
