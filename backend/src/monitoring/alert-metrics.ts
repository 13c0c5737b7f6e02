import { Counter, Gauge, type Registry } from "prom-client";
import type { AlertMonitor } from "./alert-monitor.ts";

/**
 * Exposes the alert monitor's state and the readings only it takes, all read at scrape time from its last
 * evaluation (so they are at most ALERT_EVAL_INTERVAL_MS old and a scrape costs no extra Redis or SQL call):
 * - `<prefix>alerts_firing{alert, severity}`: 1 while the rule fires, else 0 (every rule has a series)
 * - `<prefix>alert_last_evaluation_timestamp_seconds`
 * - `<prefix>alert_webhook_deliveries_total{outcome="delivered"|"failed_attempt"|"dropped"}` (with a webhook)
 * - `<prefix>readiness_check_up{check}`: 1 when the readiness check passed, 0 when it failed
 * - `<prefix>redis_memory_used_bytes{node}`, `<prefix>redis_memory_max_bytes{node}` (0: no maxmemory)
 * - `<prefix>redis_evicted_keys_total` (INFO evicted_keys summed over masters; server-wide)
 * - `<prefix>ingest_buffer_capacity_rows` (INGEST_MAX_BUFFERED_ROWS; only with the Discord side)
 */
export function registerAlertMetrics(registry: Registry, monitor: Pick<AlertMonitor, "report" | "lastSample">, namePrefix = "spywatcher_"): void {
  const name = (suffix: string) => `${namePrefix}${suffix}`;
  new Gauge({
    name: name("alerts_firing"),
    help: "1 while the alert rule fires on this instance, else 0 (docs/alerts.md)",
    labelNames: ["alert", "severity"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const alert of monitor.report().alerts) this.set({ alert: alert.id, severity: alert.severity }, alert.state === "firing" ? 1 : 0);
    },
  });
  new Gauge({
    name: name("alert_last_evaluation_timestamp_seconds"),
    help: "Unix time of the alert monitor's last evaluation",
    registers: [registry],
    collect() {
      this.reset();
      const sample = monitor.lastSample();
      if (sample) this.set(sample.at / 1_000);
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
  const memory = (suffix: string, help: string, pick: (node: { usedBytes: number; maxBytes: number }) => number) =>
    new Gauge({
      name: name(suffix),
      help,
      labelNames: ["node"] as const,
      registers: [registry],
      collect() {
        this.reset();
        const reading = monitor.lastSample()?.redisMemory;
        // Unknown memory leaves the series out rather than reporting a fake 0.
        if (!reading || "unknown" in reading) return;
        for (const node of reading.nodes) this.set({ node: node.node }, pick(node));
      },
    });
  memory("redis_memory_used_bytes", "Redis used_memory of each master (INFO memory)", (node) => node.usedBytes);
  memory("redis_memory_max_bytes", "Redis maxmemory of each master (0: not set)", (node) => node.maxBytes);
  new Counter({
    name: name("redis_evicted_keys_total"),
    help: "Keys Redis evicted (INFO evicted_keys summed over masters; server-wide, not only this application's)",
    registers: [registry],
    collect() {
      this.reset();
      const evicted = monitor.lastSample()?.cache?.evictedKeys;
      if (evicted !== undefined && evicted !== null) this.inc(evicted);
    },
  });
  new Gauge({
    name: name("ingest_buffer_capacity_rows"),
    help: "Rows the ingestion writer may buffer (INGEST_MAX_BUFFERED_ROWS)",
    registers: [registry],
    collect() {
      this.reset();
      const ingest = monitor.lastSample()?.ingest;
      if (ingest) this.set(ingest.capacity);
    },
  });
}
