import path from "node:path";
import type { Meter } from "@opentelemetry/api";
import type { Config } from "../config";
import type { logger } from "../logger";
import type { RedisClient } from "../state/redis";
import type { StateService } from "../state/service";
import { documentAnalysisWorkflow } from "./document-analysis";
import { createWorkflowMetrics } from "./metrics";
import { planWorkflow } from "./plan";
import { MemoryRunQueue, RedisRunQueue } from "./queue";
import { NAMESPACE, WorkflowService } from "./service";
import { WorkflowRegistry } from "./types";
import { WorkflowWorker } from "./worker";
import type { RunRepository } from "./run-repository";

export interface Workflows {
  readonly service: WorkflowService;
  readonly workers: readonly WorkflowWorker[];
  /** Stops this process's workers; runs in progress are released for other workers. */
  stop(): Promise<void>;
}

/**
 * The workflow engine as the container builds it: the built-in types, the run queue (Redis when the
 * hot tier is Redis, in-process otherwise), the service and STATEHOUSE_WORKFLOW_WORKERS workers.
 */
export function createWorkflows(deps: {
  config: Config;
  state: StateService;
  /** Runs across tenants in the warm tier (recovery scans, operators' lists). */
  runs: Pick<RunRepository, "findAcrossTenants">;
  redis: RedisClient | undefined;
  meter: Meter;
  log: typeof logger;
  /** Runs a direct warm-tier query with the store timeout (a clear `unavailable` when it fails). */
  warmCall: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Runs a Redis command through the hot tier's shared health (its timeout and circuit breaker). */
  hotCall?: <T>(fn: () => Promise<T>) => Promise<T>;
}): Workflows {
  const { config } = deps;
  const registry = new WorkflowRegistry([
    planWorkflow({
      effectsDir:
        config.STATEHOUSE_WORKFLOW_EFFECTS_LOG === "on" ? path.join(config.dataDir, "workflow-effects") : undefined,
    }),
    documentAnalysisWorkflow(),
  ]);
  const service = new WorkflowService({
    state: deps.state,
    registry,
    queue: deps.redis
      ? new RedisRunQueue(deps.redis, config.STATEHOUSE_KEY_PREFIX, deps.hotCall)
      : new MemoryRunQueue(),
    metrics: createWorkflowMetrics(deps.meter),
    log: deps.log,
    scan: ({ statuses, order, limit, tenant }) =>
      deps.warmCall(() =>
        deps.runs.findAcrossTenants(NAMESPACE, {
          field: statuses ? "status" : undefined,
          values: statuses,
          order,
          limit,
          tenant,
        }),
      ),
  });
  const options = {
    leaseMs: config.STATEHOUSE_WORKFLOW_LEASE_MS,
    pollMs: config.STATEHOUSE_WORKFLOW_POLL_MS,
    scanIntervalMs: config.STATEHOUSE_WORKFLOW_SCAN_MS,
  };
  const workers = Array.from({ length: config.STATEHOUSE_WORKFLOW_WORKERS }, () =>
    new WorkflowWorker(service, options).start(),
  );
  return { service, workers, stop: async () => void (await Promise.all(workers.map((w) => w.stop()))) };
}
