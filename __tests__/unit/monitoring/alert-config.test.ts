import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../../backend/src/config/config.ts";

describe("alert and metrics configuration", () => {
  it("names ALERT_WINDOW_MS when it holds fewer than two evaluations", () => {
    expect(() => loadConfig({ ALERT_EVAL_INTERVAL_MS: "60000", ALERT_WINDOW_MS: "90000" })).toThrow(
      /ALERT_WINDOW_MS: must be at least 2 x ALERT_EVAL_INTERVAL_MS \(120000\)/,
    );
    expect(loadConfig({ ALERT_EVAL_INTERVAL_MS: "60000", ALERT_WINDOW_MS: "120000" }).alerts).toMatchObject({
      evalIntervalMs: 60_000,
      windowMs: 120_000,
    });
  });

  it("refuses a METRICS_TOKEN with spaces, naming the variable", () => {
    expect(() => loadConfig({ METRICS_TOKEN: "scrape token with spaces" })).toThrow(
      /METRICS_TOKEN: must not contain spaces/,
    );
    expect(loadConfig({ METRICS_TOKEN: "scrape-token-0123456789" }).metricsToken).toBe("scrape-token-0123456789");
  });

  it("refuses credentials in ALERT_WEBHOOK_URL without echoing them, and accepts a token in the path or query", () => {
    let message = "";
    try {
      loadConfig({ ALERT_WEBHOOK_URL: "https://alice:s3cret-pass@hooks.example.com/alerts" });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(
      /ALERT_WEBHOOK_URL: must not carry credentials \(user:pass@\): put a token in its path or query instead/,
    );
    expect(message).not.toContain("s3cret");
    expect(() => loadConfig({ ALERT_WEBHOOK_URL: "https://token-only@hooks.example.com/alerts" })).toThrow(
      /ALERT_WEBHOOK_URL/,
    );
    const config = loadConfig({ ALERT_WEBHOOK_URL: "https://hooks.example.com/alerts/T0/secret?token=abc" });
    expect(config.alerts.webhook).toEqual({
      url: "https://hooks.example.com/alerts/T0/secret?token=abc",
      timeoutMs: 5_000,
      retries: 3,
      repeatMs: 3_600_000,
    });
  });

  it("names the instance <hostname>:<PORT> by default (stable across restarts), or ALERT_INSTANCE", () => {
    expect(loadConfig({ PORT: "3005" }).alerts.instance).toBe(`${hostname()}:3005`);
    expect(loadConfig({ ALERT_INSTANCE: "api-blue-1" }).alerts.instance).toBe("api-blue-1");
    expect(() => loadConfig({ ALERT_INSTANCE: "api blue" })).toThrow(/ALERT_INSTANCE/);
    expect(
      loadConfig({ ALERT_WEBHOOK_URL: "http://127.0.0.1:9/x", ALERT_WEBHOOK_REPEAT_MS: "60000" }).alerts.webhook
        ?.repeatMs,
    ).toBe(60_000);
  });
});
