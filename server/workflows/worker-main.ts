import { ConfigError, loadConfig } from "../config";
import { buildServices } from "../container";
import { logger } from "../logger";
import { startTelemetry } from "../telemetry/start";

/**
 * `npm run worker`: a process that only runs workflow steps. It builds the same services as the app
 * (same DATABASE_URL, REDIS_URL, key prefix), so it shares the app's runs, queue and leases; it serves
 * no HTTP. Start as many as you like: each run has one owner at a time.
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
    if (config.STATEHOUSE_WORKFLOW_WORKERS < 1)
      throw new ConfigError(["STATEHOUSE_WORKFLOW_WORKERS: must be at least 1 for a worker process"]);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`statehouse worker: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  startTelemetry();
  const services = await buildServices(config);
  logger.info("workflow worker started", {
    workers: config.STATEHOUSE_WORKFLOW_WORKERS,
    pid: process.pid,
    stores: { hot: services.tiers.hot.name, warm: services.tiers.warm.name },
  });

  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info("workflow worker shutting down; runs in progress are released", { signal });
    void services.close().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 10_000).unref();
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

process.on("unhandledRejection", (reason) => {
  logger.error("unhandled rejection", { error: reason instanceof Error ? reason.name : String(reason) });
});

main().catch((err: unknown) => {
  process.stderr.write(`statehouse worker: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
