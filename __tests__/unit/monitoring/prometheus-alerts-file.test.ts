import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  ALERT_RULE_IDS,
  buildAlertRules,
  DEFAULT_ALERT_THRESHOLDS,
} from "../../../backend/src/monitoring/alert-rules.ts";
import { prometheusAlertRules } from "../../../backend/src/monitoring/prometheus-alert-rules.ts";
import {
  PROMETHEUS_ALERTS_PATH,
  renderPrometheusAlertsFile,
} from "../../../backend/src/monitoring/prometheus-alerts-file.ts";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const checkedIn = readFileSync(path.join(ROOT, PROMETHEUS_ALERTS_PATH), "utf8");

describe("ops/prometheus-alerts.yml is generated from the rules in code", () => {
  it("is current (else: npm run alerts:generate)", () => {
    expect(
      checkedIn === renderPrometheusAlertsFile(),
      `${PROMETHEUS_ALERTS_PATH} is stale: run npm run alerts:generate`,
    ).toBe(true);
  });

  it("would be seen stale after a change of a rule's threshold", () => {
    const changed = renderPrometheusAlertsFile(
      prometheusAlertRules({ ...DEFAULT_ALERT_THRESHOLDS, cacheHitRateMinPercent: 91 }),
    );
    expect(changed).not.toBe(checkedIn);
    expect(changed).toContain("< 91");
  });

  it("is valid YAML with one rule per in-process rule (same severity and for) plus the Prometheus-only ones, each with a runbook section", () => {
    const docs = readFileSync(path.join(ROOT, "docs/alerts.md"), "utf8");
    const file = parse(checkedIn) as {
      groups: {
        rules: {
          alert: string;
          for?: string;
          labels: { severity: string; rule: string };
          annotations: { runbook: string };
        }[];
      }[];
    };
    const rules = file.groups.flatMap((group) => group.rules);
    expect(buildAlertRules().map((rule) => rule.id)).toEqual([...ALERT_RULE_IDS]);
    expect(rules.map((rule) => rule.labels.rule)).toEqual([...ALERT_RULE_IDS, "alert_monitor_stale"]);
    for (const rule of buildAlertRules()) {
      const mirror = rules.find((candidate) => candidate.labels.rule === rule.id)!;
      expect(mirror.labels.severity, rule.id).toBe(rule.severity);
      expect(mirror.for ?? "0s", rule.id).toBe(
        rule.forMs === 0 ? "0s" : rule.forMs % 60_000 === 0 ? `${rule.forMs / 60_000}m` : `${rule.forMs / 1_000}s`,
      );
    }
    for (const rule of rules) {
      expect(rule.alert).toMatch(/^Spywatcher[A-Za-z]+$/);
      expect(rule.annotations.runbook).toBe(`docs/alerts.md#${rule.labels.rule}`);
      expect(docs, rule.labels.rule).toContain(`### ${rule.labels.rule}`);
    }
  });
});
