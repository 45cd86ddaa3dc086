import { errorName } from "../logger";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { isCallerError, isConflict, isStateError } from "../state/errors";
import { encodeValue } from "../state/store";
import type { QueuedRun } from "./queue";
import { looksLikeRun, type StoredRun, type WorkflowService } from "./service";
import { type Checkpoint, parseRunInput, type RunValue, TERMINAL, type WorkflowType } from "./types";

export interface WorkerOptions {
  /** How long a claim holds a run without renewal; renewed every third of it while working. */
  leaseMs: number;
  /** Idle workers look at the queue this often (and at once when this process queues a run). */
  pollMs: number;
  /** How often the warm tier is scanned for runs the queue lost or whose worker died (jittered ±50%). */
  scanIntervalMs: number;
}

export const DEFAULT_WORKER_OPTIONS: WorkerOptions = { leaseMs: 30_000, pollMs: 250, scanIntervalMs: 10_000 };

const MAX_BACKOFF_MS = 60_000;

/** The worker's lease on a run was taken over by another worker: it must stop touching the run. */
class LeaseLostError extends Error {
  constructor() {
    super("lease lost");
    this.name = "LeaseLostError";
  }
}

/**
 * One workflow worker: takes due runs (queue first, warm-tier scan as the safety net), claims each
 * with a lease whose fencing token is the record version the claim wrote, runs its remaining steps and
 * writes each step's result together with its checkpoint in one compare-and-set. A write refused
 * because another worker has claimed the run since ends this worker's work on it (a lease loss).
 */
export class WorkflowWorker {
  readonly id: string;
  private stopping = false;
  private loopDone: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private current: AbortController | undefined;
  private nextScanAt = 0;
  private lastWarnAt = 0;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly service: WorkflowService,
    private readonly options: WorkerOptions = DEFAULT_WORKER_OPTIONS,
    name = `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`,
  ) {
    this.id = name;
  }

  start(): this {
    this.unsubscribe = this.service.onWake(() => this.wake?.());
    this.loopDone = this.loop();
    return this;
  }

  /** Stops taking runs; a run in progress is released (not failed) for another worker to resume. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.unsubscribe?.();
    this.current?.abort("shutdown");
    this.wake?.();
    await this.loopDone;
  }

  private async loop(): Promise<void> {
    const { log } = this.service.deps;
    while (!this.stopping) {
      try {
        const run = await this.next();
        if (run) {
          await this.work(run);
          continue;
        }
      } catch (err) {
        // A store outage fails every poll: say so once per half minute, not four times a second.
        if (Date.now() - this.lastWarnAt > 30_000) {
          this.lastWarnAt = Date.now();
          log.warn("workflow worker could not take work; will retry", { worker: this.id, error: errorName(err) });
        }
      }
      await this.idle(this.options.pollMs);
    }
  }

  /** The next run to try: due in the queue, or (every scan interval) found by scanning the warm tier. */
  private async next(): Promise<QueuedRun | undefined> {
    const { queue, log } = this.service.deps;
    const queued = await queue.pop(Date.now()).catch(() => undefined);
    if (queued || Date.now() < this.nextScanAt) return queued;
    this.nextScanAt = Date.now() + this.options.scanIntervalMs * (0.5 + Math.random());
    const found = await this.service.recoverable();
    if (found.length) log.debug("workflow recovery scan found runs", { worker: this.id, runs: found.length });
    // Put them back on the queue so every worker shares them, then take one.
    for (const run of found.slice(1)) await this.service.enqueue(run, Date.now());
    return found[0];
  }

  private async idle(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = undefined;
  }

  private async work(queued: QueuedRun): Promise<void> {
    const claimed = await this.claim(queued);
    if (!claimed) return;
    this.current = new AbortController();
    try {
      await new RunExecution(this.service, this.id, claimed, this.options.leaseMs, this.current).run();
    } finally {
      this.current = undefined;
    }
  }

  /**
   * Takes the run if it is unfinished, due, and no live lease holds it: one compare-and-set writes the
   * new lease, whose token is the version this write creates. A previous owner's lease that expired
   * means its worker died or stalled mid-step: that step counts as an attempt and the run as resumed.
   */
  private async claim({ tenant, runId }: QueuedRun): Promise<StoredRun | undefined> {
    let run: StoredRun;
    try {
      run = await this.service.read(tenant, runId);
    } catch (err) {
      if (isStateError(err) && err.code === "not_found") return undefined;
      throw err;
    }
    const v = run.value;
    const now = Date.now();
    if (!looksLikeRun(v) || v.runId !== runId || TERMINAL.has(v.status)) return undefined;
    if (v.lease && v.lease.expiresAt > now) return undefined; // held; the scan finds it again if its worker dies
    if (v.notBefore > now) {
      await this.service.enqueue({ tenant, runId }, v.notBefore);
      return undefined;
    }
    const interrupted = v.lease !== null;
    const next: RunValue = {
      ...v,
      status: v.cancelRequested ? "cancelling" : "running",
      lease: { owner: this.id, token: run.version + 1, expiresAt: now + this.options.leaseMs },
      startedAt: v.startedAt ?? new Date(now).toISOString(),
      ...(interrupted
        ? {
            resumes: v.resumes + 1,
            failedAttempts: v.failedAttempts + 1,
            attemptsTotal: v.attemptsTotal + 1,
            lastError: `worker ${v.lease!.owner} stopped during step ${v.completedSteps + 1} (lease expired)`,
          }
        : {}),
    };
    try {
      const written = await this.service.write(tenant, next, run.version);
      if (interrupted) {
        this.service.deps.metrics.resumed(v.type);
        this.service.deps.log.info("workflow run resumed from its last checkpoint", {
          worker: this.id,
          runId,
          fromStep: v.completedSteps + 1,
          previousWorker: v.lease!.owner,
        });
      }
      return written;
    } catch (err) {
      if (isConflict(err)) return undefined; // another worker claimed it first
      throw err;
    }
  }
}

interface Completed {
  result: unknown;
  checkpoint: Checkpoint;
}

/** One worker's tenure on one run: from its claim until the run ends, the worker stops or its lease is lost. */
class RunExecution {
  private cur: StoredRun;
  private readonly token: number;
  private lost = false;
  /** Set once this tenure has given the run up (finished, released for a retry or shutdown): no more renewals. */
  private ended = false;
  /** Serializes this tenure's writes (step checkpoints and lease renewals): each needs the version of the one before. */
  private writing: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly service: WorkflowService,
    private readonly worker: string,
    claimed: StoredRun,
    private readonly leaseMs: number,
    private readonly controller: AbortController,
  ) {
    this.cur = claimed;
    this.token = claimed.value.lease!.token;
  }

  private get runId() {
    return this.cur.value.runId;
  }

  async run(): Promise<void> {
    const { registry, metrics, log } = this.service.deps;
    const renewal = setInterval(
      () => {
        this.commit((v) => ({ ...v, lease: { ...v.lease!, expiresAt: Date.now() + this.leaseMs } }), {
          renewal: true,
        }).catch(() => {});
      },
      Math.max(50, Math.floor(this.leaseMs / 3)),
    );
    try {
      const type = registry.has(this.cur.value.type) ? registry.getOrThrow(this.cur.value.type) : undefined;
      if (!type) {
        await this.finish({
          status: "failed",
          error: {
            step: this.cur.value.completedSteps + 1,
            message: `workflow type ${this.cur.value.type} is not declared in this version`,
          },
        });
        return;
      }
      // The type's full check again, on the stored input: the state API cannot write runs, but a record can
      // still be corrupt or predate a stricter type. Steps then run on the parsed input (defaults applied).
      let input: unknown;
      try {
        input = parseRunInput(type, this.cur.value.input);
      } catch (err) {
        const reason = isCallerError(err) ? errorMessage(err) : "its type's check failed";
        await this.finish({
          status: "failed",
          error: {
            step: this.cur.value.completedSteps + 1,
            message: `the run's stored input is not valid for ${type.name}: ${reason}`,
          },
        });
        log.warn("workflow run failed: its stored input does not pass its type's check", {
          worker: this.worker,
          runId: this.runId,
          type: type.name,
        });
        return;
      }
      await this.steps(type, input);
    } catch (err) {
      if ((err as Error | undefined)?.name === "LeaseLostError" || this.lost) {
        metrics.leaseLost(this.cur.value.type);
        log.warn("workflow lease lost: another worker took over the run; this worker stops working on it", {
          worker: this.worker,
          runId: this.runId,
          token: this.token,
        });
      } else if (this.controller.signal.reason === "shutdown") {
        await this.release().catch(() => {});
      } else if (isCallerError(err)) {
        // The store refused the run's next value itself (e.g. over the namespace's size limit): retrying
        // cannot help, so the run fails with that reason (written without the results that made it too big).
        const message = `the run could not be checkpointed: ${(err as Error).message}`;
        await this.finish({ status: "failed", error: { step: this.cur.value.completedSteps + 1, message } }).catch(
          () => {},
        );
        log.warn("workflow run failed: its checkpoint was refused", {
          worker: this.worker,
          runId: this.runId,
          error: errorName(err),
        });
      } else {
        // A store outage mid-run: the lease lapses and the run is resumed from its last checkpoint.
        log.warn("workflow run interrupted; it resumes from its last checkpoint when the lease expires", {
          worker: this.worker,
          runId: this.runId,
          error: errorName(err),
        });
      }
    } finally {
      clearInterval(renewal);
    }
  }

  private async steps(type: WorkflowType<unknown>, input: unknown): Promise<void> {
    const { metrics } = this.service.deps;
    const steps = type.steps(input);
    const every = Math.max(1, type.checkpointEvery?.(input) ?? 1);
    let pending: Completed[] = [];
    const withPending = (v: RunValue, done: Completed[]): RunValue =>
      done.length === 0
        ? v
        : {
            ...v,
            completedSteps: v.completedSteps + done.length,
            results: [...v.results, ...done.map((d) => d.result)],
            checkpoints: [...v.checkpoints, ...done.map((d) => d.checkpoint)],
            attemptsTotal: v.attemptsTotal + done.length,
            failedAttempts: 0,
            lastError: null,
          };

    for (;;) {
      const v = this.cur.value;
      if (this.controller.signal.aborted) throw new Error(String(this.controller.signal.reason));
      if (v.cancelRequested) {
        const done = pending;
        await this.finish({ status: "cancelled" }, (x) => withPending(x, done));
        return;
      }
      const n = v.completedSteps + pending.length + 1;
      if (n > steps.length) {
        const done = pending;
        await this.finish(
          { status: "succeeded", result: type.result(input, [...v.results, ...done.map((d) => d.result)]) },
          (x) => withPending(x, done),
        );
        return;
      }
      if (v.failedAttempts >= v.maxAttempts) {
        await this.finish({
          status: "failed",
          error: { step: n, message: `gave up after ${v.failedAttempts} attempts: ${v.lastError ?? "unknown error"}` },
        });
        return;
      }
      const step = steps[n - 1]!;
      const attempt = v.failedAttempts + 1;
      const started = performance.now();
      let result: unknown;
      try {
        result = await step.run({
          input,
          results: [...v.results, ...pending.map((d) => d.result)],
          attempt,
          idempotencyKey: `${v.runId}:step-${n}`,
          signal: this.controller.signal,
        });
        encodeValue(result ?? null); // a step must return plain JSON; anything else is its failure
      } catch (err) {
        if (this.controller.signal.aborted) throw err;
        metrics.stepDuration(type.name, (performance.now() - started) / 1000, "error");
        await this.failed(type, n, attempt, errorMessage(err), pending, withPending);
        return;
      }
      const durationMs = Math.round(performance.now() - started);
      metrics.stepDuration(type.name, durationMs / 1000, "ok");
      pending.push({
        result: result ?? null,
        checkpoint: {
          step: n,
          name: step.name,
          attempt,
          worker: this.worker,
          durationMs,
          completedAt: new Date().toISOString(),
        },
      });
      if (n === steps.length) continue; // the last step's checkpoint is written with the final status
      if (pending.length >= every) {
        const done = pending;
        await this.commit((x) => withPending(x, done));
        pending = [];
      }
    }
  }

  /** A step threw: retry later with backoff (released, so any worker may take it), or fail the run. */
  private async failed(
    type: WorkflowType<unknown>,
    step: number,
    attempt: number,
    message: string,
    pending: Completed[],
    withPending: (v: RunValue, d: Completed[]) => RunValue,
  ): Promise<void> {
    if (attempt >= this.cur.value.maxAttempts) {
      await this.finish({ status: "failed", error: { step, message } }, (x) => ({
        ...withPending(x, pending),
        failedAttempts: attempt,
        attemptsTotal: x.attemptsTotal + pending.length + 1,
        lastError: message,
      }));
      return;
    }
    const notBefore = Date.now() + Math.min(MAX_BACKOFF_MS, type.backoffMs * 2 ** (attempt - 1));
    await this.commit(
      (x) => ({
        ...withPending(x, pending),
        status: x.cancelRequested ? "cancelling" : "queued",
        lease: null,
        failedAttempts: attempt,
        attemptsTotal: x.attemptsTotal + pending.length + 1,
        lastError: message,
        notBefore,
      }),
      { last: true },
    );
    await this.service.enqueue({ tenant: this.cur.tenant, runId: this.runId }, notBefore);
  }

  /** The final write: status, result or error, no lease; finished runs are kept for the retention period. */
  private async finish(
    end: Pick<RunValue, "status"> & Partial<Pick<RunValue, "result" | "error">>,
    before: (v: RunValue) => RunValue = (v) => v,
  ): Promise<void> {
    await this.commit((x) => ({ ...before(x), ...end, lease: null, finishedAt: new Date().toISOString() }), {
      last: true,
    });
    this.service.deps.metrics.runEntered(this.cur.value.type, end.status);
  }

  /** Gives the run back (shutdown): the next worker continues from the last checkpoint, without counting an attempt. */
  private async release(): Promise<void> {
    await this.commit((x) => ({ ...x, status: x.cancelRequested ? "cancelling" : "queued", lease: null }), {
      last: true,
    });
    await this.service.enqueue({ tenant: this.cur.tenant, runId: this.runId }, Date.now());
  }

  /**
   * Writes `mutate(latest value)` with a compare-and-set on the version this tenure last saw. Refused
   * because someone else wrote: if the lease still carries our token, that was a cancel request (merged
   * by re-applying the change to the newer value); if not, another worker owns the run: lease lost.
   */
  private commit(
    mutate: (v: RunValue) => RunValue,
    options: { renewal?: boolean; last?: boolean } = {},
  ): Promise<void> {
    const next = this.writing.then(async () => {
      if (this.lost) throw new LeaseLostError();
      // A renewal that fires after the run was given up would put a lease back on it.
      if (options.renewal && this.ended) return;
      const deadline = Date.now() + this.leaseMs;
      for (;;) {
        try {
          this.cur = await this.service.write(this.cur.tenant, mutate(this.cur.value), this.cur.version);
          if (options.last) this.ended = true;
          return;
        } catch (err) {
          if (isConflict(err)) {
            const fresh = await this.service.read(this.cur.tenant, this.runId);
            if (fresh.value.lease?.token !== this.token) {
              this.lost = true;
              this.controller.abort("lease lost");
              throw new LeaseLostError();
            }
            this.cur = fresh;
            continue;
          }
          // The store is unavailable: keep trying while the lease could still be ours.
          if (isCallerError(err) || Date.now() > deadline || this.controller.signal.aborted) throw err;
          await sleep(250);
        }
      }
    });
    this.writing = next.catch(() => {});
    return next;
  }
}

function errorMessage(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.length > 500 ? `${m.slice(0, 497)}...` : m;
}
