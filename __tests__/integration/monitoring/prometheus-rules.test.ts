import { readFileSync } from "node:fs";
import path from "node:path";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parse } from "yaml";
import type { AlertReport } from "../../../backend/src/monitoring/alert-monitor.ts";
import { buildAlertRules } from "../../../backend/src/monitoring/alert-rules.ts";
import { startService, type RunningService } from "../../../backend/src/service.ts";
import { testConfig, testLogger } from "../../support/test-env.ts";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const RULES_FILE = path.join(ROOT, "ops/prometheus-alerts.yml");
const METRICS_TOKEN = "alerts-scrape-token-0123456789";
const ADMIN_KEY = `alerts-bootstrap-admin-${"k".repeat(24)}`;

interface PrometheusRule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: string; rule: string };
  annotations: { summary: string; runbook: string };
}

const rulesFile = parse(readFileSync(RULES_FILE, "utf8")) as { groups: { name: string; rules: PrometheusRule[] }[] };
const prometheusRules = rulesFile.groups.flatMap((group) => group.rules);

/** Metric names an expression reads: identifiers that are not functions, keywords, label names or label values. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, "")
    .replace(/\[[^\]]*\]/g, "")
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, "");
  const keywords = new Set(["and", "or", "unless", "bool", "offset"]);
  return [...stripped.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?/g)]
    .filter((match) => match[2] === undefined && !keywords.has(match[1]!))
    .map((match) => match[1]!);
}

/** Label matchers of an expression: `name{label="value"}` and `name{label=~"a|b"}`. */
function matchers(expr: string): { metric: string; label: string; values: string[] }[] {
  return [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/g)].flatMap((match) =>
    [...match[2]!.matchAll(/(\w+)\s*(=~|=)\s*"([^"]*)"/g)].map((m) => ({
      metric: match[1]!,
      label: m[1]!,
      values: m[2] === "=~" ? m[3]!.split("|") : [m[3]!],
    })),
  );
}

// The file is generated from the rules in code and checked current by __tests__/unit/monitoring/prometheus-alerts-file.test.ts;
// here: every metric and label value its expressions read is exported by a running service.
describe("ops/prometheus-alerts.yml", () => {
  it("extracts metric names from expressions (self-check of the test's parser)", () => {
    expect(
      metricNames(
        'max by (job, node) (a_used / (b_max{x="y"} > 0)) * 100 > 90 and on (job) sum(increase(c_total[5m])) >= 1',
      ),
    ).toEqual(["a_used", "b_max", "c_total"]);
    expect(metricNames("time() - d_seconds > 120")).toEqual(["d_seconds"]);
  });

  describe("against a running service's /metrics (Discord side simulated)", () => {
    let service: RunningService;
    let exposition: string;

    beforeAll(async () => {
      service = await startService(
        testConfig({
          METRICS_TOKEN,
          ADMIN_API_KEY: ADMIN_KEY,
          DISCORD_ENABLED: "true",
          SIMULATION_EVENTS_PER_SECOND: "50",
          INGEST_FLUSH_INTERVAL_MS: "50",
          ALERT_EVAL_INTERVAL_MS: "200",
          // A distinctive bound, so the exported capacity is seen to come from it.
          INGEST_MAX_BUFFERED_ROWS: "12345",
        }),
        testLogger(),
      );
      await vi.waitFor(() => expect(service.alerts.lastSample()?.redis).toHaveProperty("nodes"), {
        timeout: 10_000,
        interval: 50,
      });
      exposition = (
        await request(service.server).get("/metrics").set("authorization", `Bearer ${METRICS_TOKEN}`).expect(200)
      ).text;
    });
    afterAll(async () => service?.stop());

    it("exports every metric and label value the rules read", () => {
      const series = exposition.split("\n").filter((line) => line !== "" && !line.startsWith("#"));
      const names = new Set(series.map((line) => /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)![0]));
      const used = new Set(prometheusRules.flatMap((rule) => metricNames(rule.expr)));
      expect(used.size).toBeGreaterThanOrEqual(12);
      for (const name of used) expect(names, name).toContain(name);
      for (const { metric, label, values } of prometheusRules.flatMap((rule) => matchers(rule.expr))) {
        for (const value of values)
          expect(
            series.some((line) => line.startsWith(`${metric}{`) && line.includes(`${label}="${value}"`)),
            `${metric}{${label}="${value}"}`,
          ).toBe(true);
      }
    });

    it("exports the unlabelled and per-master readings the rules read with their sources' values, not placeholders", async () => {
      const value = (text: string, nameAndLabels: string) => {
        const line = text.split("\n").find((candidate) => candidate.startsWith(`${nameAndLabels} `));
        return line === undefined ? undefined : Number(line.slice(nameAndLabels.length + 1));
      };
      // Read the sources before the scrape: values read at scrape time are at least as new.
      const evaluatedBefore = service.alerts.lastSample()!.at / 1_000;
      const invalidationErrors = service.discord!.stats().invalidation.errors;
      const info = await service.redis.client.info("stats");
      const evictedKeys = Number(/evicted_keys:(\d+)/.exec(info)![1]);
      const text = (
        await request(service.server).get("/metrics").set("authorization", `Bearer ${METRICS_TOKEN}`).expect(200)
      ).text;
      expect(value(text, "spywatcher_ingest_buffer_capacity_rows")).toBe(12_345);
      const buffered = value(text, "spywatcher_ingest_buffered_rows")!;
      expect(buffered).toBeGreaterThanOrEqual(0);
      expect(buffered).toBeLessThanOrEqual(12_345);
      const evaluatedAt = value(text, "spywatcher_alert_last_evaluation_timestamp_seconds")!;
      expect(evaluatedAt).toBeGreaterThanOrEqual(evaluatedBefore);
      expect(evaluatedAt).toBeLessThanOrEqual(Date.now() / 1_000);
      expect(value(text, "spywatcher_invalidation_errors_total")).toBeGreaterThanOrEqual(invalidationErrors);
      expect(value(text, "spywatcher_cache_breaker_state")).toBe(
        { closed: 0, "half-open": 1, open: 2 }[service.cache.getLocalStats().breaker.state],
      );
      // Evictions are per master (label node): the test Redis's own INFO evicted_keys (the whole server's).
      const { host, port } = service.redis.client.options as { host: string; port: number };
      expect(value(text, `spywatcher_redis_evicted_keys_total{node="${host}:${port}"}`)).toBeGreaterThanOrEqual(
        evictedKeys,
      );
    });

    it("exports spywatcher_alerts_firing for every rule and serves GET /api/admin/alerts to admin keys", async () => {
      for (const rule of buildAlertRules())
        expect(exposition).toMatch(
          new RegExp(`^spywatcher_alerts_firing\\{alert="${rule.id}",severity="${rule.severity}"\\} [01]$`, "m"),
        );
      await request(service.server).get("/api/admin/alerts").expect(401);
      const res = await request(service.server)
        .get("/api/admin/alerts")
        .set("authorization", `Bearer ${ADMIN_KEY}`)
        .expect(200);
      const report = res.body as AlertReport;
      expect(report.evaluatedAt).not.toBeNull();
      expect(report.webhook).toBeNull();
      expect(report.alerts.map((a) => a.id)).toEqual(buildAlertRules().map((rule) => rule.id));
      for (const id of ["postgres_unready", "redis_unready", "cache_breaker_open", "ingest_rows_lost"]) {
        expect(
          report.alerts.find((a) => a.id === id),
          id,
        ).toMatchObject({ state: "ok" });
      }
      expect(report.alerts.find((a) => a.id === "ingest_buffer_high")!.value).not.toBeNull();
      const metrics = await request(service.server)
        .get("/metrics")
        .set("authorization", `Bearer ${METRICS_TOKEN}`)
        .expect(200);
      expect(metrics.text).toContain(
        'spywatcher_http_request_duration_seconds_count{method="GET",route="/api/admin/alerts",status="200"} 1',
      );
    });
  });
});
