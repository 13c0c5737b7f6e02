import type { AppConfig } from "../config/config.ts";

/** Longest wait for one shutdown step that talks to Redis or PostgreSQL (they may be hung). */
export const SHUTDOWN_STEP_MS = 2_000;
/** The alert monitor's close: an evaluation in flight (bounded by HEALTH_CHECK_TIMEOUT_MS) and the webhook's final sends. */
export const ALERTS_STEP_MS = 2 * SHUTDOWN_STEP_MS;
/** Writing and fsyncing the ingestion spill file (at most INGEST_MAX_BUFFERED_ROWS rows, a few MB). */
export const SPILL_STEP_MS = 5_000;
/** Slack between the last stage's bound and the kill timer (logging, exit). */
const MARGIN_MS = 1_000;

/** The graceful stop's stages; `service.ts` names its steps with these, so a step without a bound fails `tsc`. */
export type ShutdownStageName =
  | "alerts"
  | "realtime"
  | "http drain"
  | "discord gateway"
  | "ingestion drain"
  | "ingestion spill"
  | "invalidation flush"
  | "activity flush"
  | "api key bookkeeping"
  | "sessions"
  | "revocation listener"
  | "scheduled cleanup"
  | "pubsub"
  | "cache"
  | "redis"
  | "postgres";

/** One stage of the graceful stop and its bound in ms. */
export interface ShutdownStage {
  name: ShutdownStageName;
  ms: number;
}

/**
 * The graceful stop's stages in order, each with its own bound (docs/architecture.md, Shutdown): the kill timer of
 * main.ts is their sum, so no stage is cut short by it, the ingestion drain included.
 */
export function shutdownStages(config: AppConfig): ShutdownStage[] {
  const discord: ShutdownStage[] = config.discord.enabled
    ? [
        { name: "discord gateway", ms: SHUTDOWN_STEP_MS },
        { name: "ingestion drain", ms: config.discord.ingestCloseTimeoutMs },
        { name: "ingestion spill", ms: SPILL_STEP_MS },
        { name: "invalidation flush", ms: SHUTDOWN_STEP_MS },
      ]
    : [];
  return [
    { name: "alerts", ms: ALERTS_STEP_MS },
    { name: "realtime", ms: SHUTDOWN_STEP_MS },
    { name: "http drain", ms: config.shutdownTimeoutMs },
    ...discord,
    { name: "activity flush", ms: SHUTDOWN_STEP_MS },
    { name: "api key bookkeeping", ms: SHUTDOWN_STEP_MS },
    { name: "sessions", ms: SHUTDOWN_STEP_MS },
    { name: "revocation listener", ms: SHUTDOWN_STEP_MS },
    { name: "scheduled cleanup", ms: SHUTDOWN_STEP_MS },
    { name: "pubsub", ms: SHUTDOWN_STEP_MS },
    { name: "cache", ms: SHUTDOWN_STEP_MS },
    { name: "redis", ms: SHUTDOWN_STEP_MS },
    { name: "postgres", ms: SHUTDOWN_STEP_MS },
  ];
}

/** The whole stop's deadline: the sum of the stages plus a margin (54 s with the defaults and Discord on). */
export function shutdownDeadlineMs(config: AppConfig): number {
  return shutdownStages(config).reduce((sum, stage) => sum + stage.ms, MARGIN_MS);
}
