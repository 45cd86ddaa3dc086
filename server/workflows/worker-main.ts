// `npm run worker`: a process that runs workflow steps and nothing else.
import { runProcess } from "../bootstrap";
import { openClients } from "../clients";
import { ConfigError } from "../config";
import { buildWorker } from "../container";
import { logger } from "../logger";

/**
 * It builds the state engine and the run queue's workers from the same configuration as the app (same
 * DATABASE_URL, REDIS_URL, key prefix), so it shares the app's runs, queue and leases; it serves no HTTP
 * and starts none of the server's parts (sweeper, relay, agents). Start as many as you like: each run
 * has one owner at a time.
 */
runProcess(
  "statehouse worker",
  async (config) => {
    const worker = await buildWorker(config, await openClients(config));
    logger.info("workflow worker started", {
      workers: config.STATEHOUSE_WORKFLOW_WORKERS,
      pid: process.pid,
      stores: { hot: worker.engine.tiers.hot.name, warm: worker.engine.tiers.warm.name },
    });
    return worker;
  },
  {
    shutdownMs: 10_000,
    stopping: "workflow worker shutting down; runs in progress are released",
    check: (config) => {
      if (config.STATEHOUSE_WORKFLOW_WORKERS < 1)
        throw new ConfigError(["STATEHOUSE_WORKFLOW_WORKERS: must be at least 1 for a worker process"]);
    },
  },
);
