import type { AppConfig } from "../config/config.ts";
import type { Logger } from "../logging/logger.ts";
import { AlertMonitor, type AlertMonitorOptions } from "./alert-monitor.ts";
import { buildAlertRules } from "./alert-rules.ts";
import { createAlertSampler, type AlertSampleSources } from "./alert-sample.ts";
import { AlertWebhook } from "./alert-webhook.ts";

/**
 * The service's alert monitor from its configuration (ALERT_*, HEALTH_CHECK_TIMEOUT_MS, INGEST_MAX_BUFFERED_ROWS); not
 * started.
 */
export function createServiceAlertMonitor(
  config: AppConfig,
  sources: Omit<AlertSampleSources, "timeoutMs" | "ingestCapacity">,
  logger: Logger,
  onTransitions?: AlertMonitorOptions["onTransitions"],
): AlertMonitor {
  const { alerts } = config;
  const webhook = alerts.webhook ? new AlertWebhook({ ...alerts.webhook, logger }) : undefined;
  logger.info(
    { intervalMs: alerts.evalIntervalMs, windowMs: alerts.windowMs, webhook: webhook?.origin ?? null },
    "alert monitor configured",
  );
  return new AlertMonitor({
    rules: buildAlertRules(alerts),
    sample: createAlertSampler({
      ...sources,
      timeoutMs: config.health.checkTimeoutMs,
      ingestCapacity: config.discord.ingestMaxBufferedRows,
    }),
    logger,
    intervalMs: alerts.evalIntervalMs,
    windowMs: alerts.windowMs,
    webhook,
    repeatMs: alerts.webhook?.repeatMs,
    instance: alerts.instance,
    onTransitions,
  });
}
