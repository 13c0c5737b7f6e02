import { ConfigError, loadConfig } from "./config/config.ts";
import { shutdownDeadlineMs, shutdownStages } from "./lifecycle/shutdown-budget.ts";
import { createLogger } from "./logging/logger.ts";
import { startService } from "./service.ts";

/** Entry point: validate the environment, start the service, stop it gracefully on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger({ level: config.log.level, pretty: config.log.pretty });
  const service = await startService(config, logger).catch((error: unknown) => {
    logger.fatal({ err: error }, "service failed to start");
    process.exit(1);
  });

  let signals = 0;
  const shutdown = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    // The kill timer is the sum of every stage's own bound, so it never cuts a stage short (the ingestion drain
    // and spill included); it only ends a stop that is stuck beyond all of them.
    const deadlineMs = shutdownDeadlineMs(config);
    logger.info({ signal, deadlineMs, stages: shutdownStages(config) }, "shutting down");
    const forced = setTimeout(() => {
      logger.error({ deadlineMs, ingest: service.discord?.stats().ingest }, "shutdown timed out: exiting");
      process.exit(1);
    }, deadlineMs);
    forced.unref();
    service.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

await main();
