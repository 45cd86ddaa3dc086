import { randomBytes } from "node:crypto";
import type { logger } from "../logger";
import { isConflict, NotFoundError } from "../state/errors";
import type { StateService } from "../state/service";
import type { StateRecord, StateRef } from "../state/store";
import type { WorkflowMetrics } from "./metrics";
import type { QueuedRun, RunQueue } from "./queue";
import {
  ACTIVE,
  parseRunInput,
  type RunStatus,
  type RunValue,
  TERMINAL,
  WorkflowError,
  type WorkflowRegistry,
} from "./types";

export const NAMESPACE = "workflows";
/** Finished runs (succeeded, failed, cancelled) are kept this long, then the lifecycle policy archives them. */
export const FINISHED_RETENTION_SECONDS = 7 * 24 * 3600;
const RUN_ID = /^run_[a-z0-9]{20}$/;
const CAS_RETRIES = 20;

/** A run as read from the store: its value and the version that value has. */
export interface StoredRun {
  readonly tenant: string;
  readonly value: RunValue;
  readonly version: number;
  readonly updatedAt: Date;
}

/** A run as the API and the dashboard show it. */
export interface RunView {
  runId: string;
  type: string;
  status: RunStatus;
  /** The step being worked on (1-based), or the last one once the run is finished. */
  step: number;
  totalSteps: number;
  completedSteps: number;
  /** completedSteps / totalSteps, 0..1. */
  progress: number;
  /** Every attempt of every step so far. */
  attempts: number;
  /** Failed or interrupted attempts of the current step. */
  stepAttempts: number;
  maxAttempts: number;
  resumes: number;
  cancelRequested: boolean;
  worker: string | null;
  leaseExpiresAt: string | null;
  checkpoints: RunValue["checkpoints"];
  result: unknown;
  error: RunValue["error"];
  lastError: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string;
  version: number;
}

export interface WorkflowServiceDeps {
  state: StateService;
  registry: WorkflowRegistry;
  queue: RunQueue;
  metrics: WorkflowMetrics;
  log: typeof logger;
  /** Live runs of every tenant (or one, with `tenant`) by status (the warm tier's scan): what the recovery scan and the dashboard read. */
  scan(options: {
    statuses?: readonly RunStatus[];
    order: "newest" | "oldest";
    limit: number;
    tenant?: string;
  }): Promise<{ tenant: string; record: StateRecord }[]>;
}

/**
 * Workflow runs: starting, reading and cancelling them (the API), and the versioned record operations
 * workers build on (claim, write). A run is one record in the `workflows` namespace (durable, strong
 * reads, preconditions required): every change is a compare-and-set on its version, so a claim, a
 * checkpoint and a cancel can never overwrite each other.
 */
export class WorkflowService {
  private readonly wakeListeners = new Set<() => void>();

  constructor(readonly deps: WorkflowServiceDeps) {}

  get registry() {
    return this.deps.registry;
  }

  /**
   * Validates and records a new run (status `queued`) and queues it. Throws `unknown_workflow_type`,
   * `invalid` (the type's input schema) or `too_large` before anything is written.
   */
  async start(tenant: string, typeName: string, input: unknown, actor?: string): Promise<StoredRun> {
    const type = this.deps.registry.getOrThrow(typeName);
    const parsedInput = parseRunInput(type, input);
    const steps = type.steps(parsedInput);
    const now = new Date().toISOString();
    const runId = newRunId();
    const value = queuedRun({
      runId,
      type: type.name,
      input: parsedInput,
      totalSteps: steps.length,
      maxAttempts: type.maxAttempts,
      createdAt: now,
    });
    const { record } = await this.deps.state.put(this.ref(tenant, runId), value, { createOnly: true, actor });
    this.deps.metrics.runEntered(type.name, "queued");
    await this.enqueue({ tenant, runId }, Date.now());
    return { tenant, value, version: record.version, updatedAt: record.updatedAt };
  }

  /** The run, or `not_found` (also for another tenant's run and for ids that cannot be run ids). */
  async getOrThrow(tenant: string, runId: string): Promise<StoredRun> {
    if (!RUN_ID.test(runId)) throw new NotFoundError({ tenant, namespace: NAMESPACE, key: runId.slice(0, 64) });
    return this.read(tenant, runId);
  }

  /**
   * Asks a run to stop. A run no worker holds is cancelled at once; a running one becomes `cancelling`
   * and its worker stops at the next step boundary (`cancelled`). Throws `workflow_finished` for a
   * finished run: terminal states are final.
   */
  async cancel(tenant: string, runId: string, actor?: string): Promise<StoredRun> {
    for (let attempt = 0; ; attempt++) {
      const run = await this.getOrThrow(tenant, runId);
      const v = run.value;
      if (TERMINAL.has(v.status))
        throw new WorkflowError("workflow_finished", `run ${runId} already ${v.status}`, { runStatus: v.status });
      if (v.cancelRequested) return run;
      const held = v.lease !== null && v.lease.expiresAt > Date.now();
      const next: RunValue = held
        ? { ...v, status: "cancelling", cancelRequested: true }
        : { ...v, status: "cancelled", cancelRequested: true, lease: null, finishedAt: new Date().toISOString() };
      try {
        const written = await this.write(tenant, next, run.version, actor);
        if (next.status === "cancelled") this.deps.metrics.runEntered(v.type, "cancelled");
        return written;
      } catch (err) {
        if (!isConflict(err) || attempt >= CAS_RETRIES) throw err;
      }
    }
  }

  /** Recent runs of every tenant, newest change first (the dashboard). */
  async recent(options: { status?: RunStatus; limit?: number; tenant?: string } = {}): Promise<StoredRun[]> {
    const found = await this.deps.scan({
      statuses: options.status ? [options.status] : undefined,
      order: "newest",
      limit: options.limit ?? 50,
      tenant: options.tenant,
    });
    return found.map(({ tenant, record }) => toStored(tenant, record));
  }

  /**
   * Runs no live lease holds and that are due, oldest first: what a worker whose queue came up empty
   * (or lost entries) must still find. Crashed workers' runs show up here once their lease expires.
   */
  async recoverable(limit = 100): Promise<QueuedRun[]> {
    const now = Date.now();
    const found = await this.deps.scan({ statuses: ACTIVE, order: "oldest", limit });
    return (
      found
        .map(({ tenant, record }) => ({ tenant, value: record.value as RunValue }))
        // The namespace is reachable through the state API too: skip anything that is not a run.
        .filter(
          ({ value }) =>
            looksLikeRun(value) && (value.lease === null || value.lease.expiresAt <= now) && value.notBefore <= now,
        )
        .map(({ tenant, value }) => ({ tenant, runId: value.runId }))
    );
  }

  /** Queues the run (best effort: the recovery scan finds it anyway) and wakes this process's idle workers. */
  async enqueue(run: QueuedRun, dueAt: number): Promise<void> {
    await this.deps.queue.push(run, dueAt).catch(() =>
      this.deps.log.warn("could not queue a workflow run; the recovery scan will find it", {
        queue: this.deps.queue.name,
      }),
    );
    if (dueAt <= Date.now()) for (const wake of this.wakeListeners) wake();
  }

  /** Called when a run is queued in this process; returns the unsubscribe function. */
  onWake(listener: () => void): () => void {
    this.wakeListeners.add(listener);
    return () => this.wakeListeners.delete(listener);
  }

  /** The run as stored now (strong read from the source of truth). */
  async read(tenant: string, runId: string): Promise<StoredRun> {
    const record = await this.deps.state.getOrThrow(this.ref(tenant, runId), { consistency: "strong" });
    return toStored(tenant, record);
  }

  /**
   * Writes the run's next value if its version is still `ifVersion` (else `version_conflict`, nothing
   * written). A finished run is written with the retention TTL.
   */
  async write(tenant: string, value: RunValue, ifVersion: number, actor?: string): Promise<StoredRun> {
    const finished = TERMINAL.has(value.status);
    const { record } = await this.deps.state.put(this.ref(tenant, value.runId), value, {
      ifVersion,
      actor,
      ...(finished ? { ttlSeconds: FINISHED_RETENTION_SECONDS } : {}),
    });
    return { tenant, value, version: record.version, updatedAt: record.updatedAt };
  }

  view(run: StoredRun): RunView {
    const v = run.value;
    const finished = TERMINAL.has(v.status);
    return {
      runId: v.runId,
      type: v.type,
      status: v.status,
      step: finished ? Math.max(v.completedSteps, v.error?.step ?? 0) : Math.min(v.completedSteps + 1, v.totalSteps),
      totalSteps: v.totalSteps,
      completedSteps: v.completedSteps,
      progress: v.totalSteps === 0 ? 1 : Math.round((v.completedSteps / v.totalSteps) * 1000) / 1000,
      attempts: v.attemptsTotal,
      stepAttempts: v.failedAttempts,
      maxAttempts: v.maxAttempts,
      resumes: v.resumes,
      cancelRequested: v.cancelRequested,
      worker: finished ? null : (v.lease?.owner ?? null),
      leaseExpiresAt: finished || !v.lease ? null : new Date(v.lease.expiresAt).toISOString(),
      checkpoints: v.checkpoints,
      result: v.result,
      error: v.error,
      lastError: v.lastError,
      createdAt: v.createdAt,
      startedAt: v.startedAt,
      finishedAt: v.finishedAt,
      updatedAt: run.updatedAt.toISOString(),
      version: run.version,
    };
  }

  ref(tenant: string, runId: string): StateRef {
    return { tenant, namespace: NAMESPACE, key: runId };
  }
}

/** A run as `start` records it: queued, nothing done yet (tests forge stored runs with it too). */
export function queuedRun(
  run: Pick<RunValue, "runId" | "type" | "input" | "totalSteps" | "maxAttempts" | "createdAt">,
): RunValue {
  return {
    runId: run.runId,
    type: run.type,
    input: run.input,
    status: "queued",
    totalSteps: run.totalSteps,
    completedSteps: 0,
    results: [],
    checkpoints: [],
    failedAttempts: 0,
    attemptsTotal: 0,
    maxAttempts: run.maxAttempts,
    lease: null,
    notBefore: 0,
    cancelRequested: false,
    resumes: 0,
    lastError: null,
    result: null,
    error: null,
    createdAt: run.createdAt,
    startedAt: null,
    finishedAt: null,
  };
}

/**
 * Whether a stored value has a run's shape (a record in the namespace written through the state API by
 * hand may not): workers skip anything else rather than fail on it.
 */
export function looksLikeRun(v: unknown): v is RunValue {
  const r = v as RunValue;
  return (
    typeof r === "object" &&
    r !== null &&
    typeof r.runId === "string" &&
    typeof r.type === "string" &&
    typeof r.status === "string" &&
    Number.isSafeInteger(r.totalSteps) &&
    Number.isSafeInteger(r.completedSteps) &&
    Array.isArray(r.results) &&
    Array.isArray(r.checkpoints) &&
    Number.isSafeInteger(r.failedAttempts) &&
    Number.isSafeInteger(r.attemptsTotal) &&
    Number.isSafeInteger(r.maxAttempts) &&
    typeof r.notBefore === "number" &&
    (r.lease === null ||
      (typeof r.lease === "object" &&
        typeof r.lease.owner === "string" &&
        typeof r.lease.token === "number" &&
        typeof r.lease.expiresAt === "number"))
  );
}

const ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

/** run_ + 20 random characters of [a-z0-9] (~103 bits). */
function newRunId(): string {
  return `run_${[...randomBytes(20)].map((b) => ID_ALPHABET[b % ID_ALPHABET.length]).join("")}`;
}

function toStored(tenant: string, record: StateRecord): StoredRun {
  return { tenant, value: record.value as RunValue, version: record.version, updatedAt: record.updatedAt };
}
