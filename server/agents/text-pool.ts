import { availableParallelism } from "node:os";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { analyzeText, type TextAnalysis, type TextTask } from "./text-analysis";
import { AGENT_TASK_MAX_WAIT_MS, AGENT_TASK_TIMEOUT_MS_DEFAULT, AGENT_TASKS_QUEUED_PER_TENANT } from "./text-limits";

/**
 * CPU-heavy agent text work (entities, intent, embeddings) off the event loop: a small worker-thread
 * pool (tinypool) behind a scheduler that is fair per tenant. Each task has a time budget; a task over
 * it is abandoned and its worker terminated and replaced, and the caller degrades (a turn answers
 * without entities, a batch item reports `failed`) — never a 5xx.
 */

/** Why a task produced nothing: over its time budget, refused or given up in the queue, or it threw. */
export type TaskRefusal = "timeout" | "busy" | "failed";
export type TaskOutcome<R> = { ok: true; value: R } | { ok: false; reason: TaskRefusal };
export type TextOutcome = TaskOutcome<TextAnalysis>;

export interface TextAnalyzer {
  /** `workers`: a worker-thread pool; `inline`: on the event loop (no pool configured, or no worker file). */
  readonly mode: "workers" | "inline";
  /** Analyzes one message for `tenant`. Never rejects. */
  analyze(tenant: string, task: TextTask): Promise<TextOutcome>;
  close(): Promise<void>;
}

export interface FairSchedulerOptions {
  /** Tasks running at once in total (the pool's threads: nothing waits inside the pool itself). */
  slots: number;
  /** Tasks of one tenant running at once; the tenant's other tasks wait behind its own. */
  perTenant: number;
  /** Running time of one task (from `started()`) before its signal aborts. */
  timeoutMs: number;
  /** Waiting time before a queued task is given up (`busy`). */
  maxWaitMs?: number;
  /** Waiting tasks per tenant; more are refused at once (`busy`). */
  maxQueuedPerTenant?: number;
}

/** Given to a running task: `signal` aborts when it is over budget; call `started` when it really begins. */
export interface TaskBudget {
  signal: AbortSignal;
  started(): void;
}

interface Waiting<T, R> {
  task: T;
  settle(outcome: TaskOutcome<R>): void;
  settled: boolean;
  timer: NodeJS.Timeout;
}

interface TenantQueue<T, R> {
  waiting: Waiting<T, R>[];
  running: number;
}

/**
 * Runs tasks with at most `slots` at once and at most `perTenant` of one tenant at once. A free slot
 * goes to the tenant served least recently that has work (round robin), so one tenant's 500 documents
 * queue behind each other while another tenant's single message takes the next free slot.
 */
export class FairScheduler<T, R> {
  private readonly tenants = new Map<string, TenantQueue<T, R>>();
  private running = 0;
  private closed = false;

  constructor(
    private readonly run: (task: T, budget: TaskBudget) => Promise<R>,
    private readonly options: FairSchedulerOptions,
  ) {}

  /** Queues a task; resolves with its result or why there is none. Never rejects. */
  submit(tenant: string, task: T): Promise<TaskOutcome<R>> {
    if (this.closed) return Promise.resolve({ ok: false, reason: "busy" });
    let queue = this.tenants.get(tenant);
    if (!queue) this.tenants.set(tenant, (queue = { waiting: [], running: 0 }));
    if (queue.waiting.length >= (this.options.maxQueuedPerTenant ?? AGENT_TASKS_QUEUED_PER_TENANT))
      return Promise.resolve({ ok: false, reason: "busy" });
    return new Promise((resolve) => {
      const entry: Waiting<T, R> = {
        task,
        settled: false,
        settle: (outcome) => {
          if (entry.settled) return;
          entry.settled = true;
          clearTimeout(entry.timer);
          resolve(outcome);
        },
        // Given up in the queue: the entry stays in place, settled, and is skipped when reached.
        timer: setTimeout(
          () => entry.settle({ ok: false, reason: "busy" }),
          this.options.maxWaitMs ?? AGENT_TASK_MAX_WAIT_MS,
        ),
      };
      entry.timer.unref();
      queue.waiting.push(entry);
      this.pump();
    });
  }

  /** Tasks running and waiting, for tests and gauges. */
  stats(): { running: number; waiting: number; tenants: number } {
    let waiting = 0;
    for (const q of this.tenants.values()) waiting += q.waiting.filter((w) => !w.settled).length;
    return { running: this.running, waiting, tenants: this.tenants.size };
  }

  /** Refuses every waiting task (`busy`); running ones finish or time out. */
  close(): void {
    this.closed = true;
    for (const q of this.tenants.values()) for (const w of q.waiting) w.settle({ ok: false, reason: "busy" });
    this.tenants.clear();
  }

  private pump(): void {
    while (this.running < this.options.slots) {
      const next = this.pick();
      if (!next) return;
      this.start(next.tenant, next.queue, next.entry);
    }
  }

  /** The least recently served tenant with a waiting task and a free per-tenant slot. */
  private pick(): { tenant: string; queue: TenantQueue<T, R>; entry: Waiting<T, R> } | undefined {
    for (const [tenant, queue] of this.tenants) {
      while (queue.waiting.length && queue.waiting[0]!.settled) queue.waiting.shift();
      if (queue.waiting.length === 0) {
        if (queue.running === 0) this.tenants.delete(tenant);
        continue;
      }
      if (queue.running >= this.options.perTenant) continue;
      // Served: to the back of the line (a Map iterates in insertion order).
      this.tenants.delete(tenant);
      this.tenants.set(tenant, queue);
      return { tenant, queue, entry: queue.waiting.shift()! };
    }
    return undefined;
  }

  private start(tenant: string, queue: TenantQueue<T, R>, entry: Waiting<T, R>): void {
    this.running++;
    queue.running++;
    clearTimeout(entry.timer);
    const budget = new AbortController();
    let started = false;
    // Until the task starts (a worker may still be booting after a recycle) the wait limit applies;
    // from its start, the time budget. A worker's boot never counts against a task's budget.
    let timer = setTimeout(() => budget.abort(), this.options.maxWaitMs ?? AGENT_TASK_MAX_WAIT_MS);
    const begin = () => {
      if (started || budget.signal.aborted) return;
      started = true;
      clearTimeout(timer);
      timer = setTimeout(() => budget.abort(), this.options.timeoutMs);
    };
    const done = (outcome: TaskOutcome<R>) => {
      clearTimeout(timer);
      this.running--;
      queue.running--;
      if (queue.running === 0 && queue.waiting.length === 0 && this.tenants.get(tenant) === queue)
        this.tenants.delete(tenant);
      entry.settle(outcome);
      this.pump();
    };
    let run: Promise<R>;
    try {
      run = this.run(entry.task, { signal: budget.signal, started: begin });
    } catch {
      run = Promise.reject(new Error("task failed to start"));
    }
    run.then(
      (value) => done({ ok: true, value }),
      () => done({ ok: false, reason: !budget.signal.aborted ? "failed" : started ? "timeout" : "busy" }),
    );
  }
}

export interface TextPoolOptions {
  /**
   * Worker threads; 0 runs the work inline on the event loop (bounded by the prefix only). Default: one
   * on two cores or fewer (it leaves the other to the event loop), two otherwise.
   */
  threads?: number;
  /** Time budget of one task (ms). */
  timeoutMs?: number;
  log?: { warn(msg: string, fields?: Record<string, unknown>): void };
}

/**
 * The text analyzer for this process: a worker pool of `threads` threads, or the inline analyzer when
 * `threads` is 0 or the worker entry is not on disk (as inside Next.js's bundle, which the dashboard's
 * pages load: there the work stays on the event loop, bounded by the prefix).
 */
export async function createTextAnalyzer(options: TextPoolOptions): Promise<TextAnalyzer> {
  const threads = options.threads ?? (availableParallelism() <= 2 ? 1 : 2);
  if (threads <= 0) return new InlineTextAnalyzer();
  const filename = workerEntry();
  if (!filename) {
    options.log?.warn("agent text worker not found; text analysis runs on the event loop", {});
    return new InlineTextAnalyzer();
  }
  // Imported here, not at the top, so bundles that never build a pool never load it.
  const { default: Tinypool } = await import("tinypool");
  const pool = new Tinypool({
    filename,
    minThreads: threads,
    maxThreads: threads,
    // A worker that leaks on hostile text is bounded and replaced, not the process.
    resourceLimits: { maxOldGenerationSizeMb: 256 },
  });
  return new WorkerTextAnalyzer(pool, {
    slots: threads,
    // Two threads on two cores: one tenant gets one of them, so another tenant's turn always finds a slot.
    perTenant: Math.max(1, Math.ceil(threads / 2)),
    timeoutMs: options.timeoutMs ?? AGENT_TASK_TIMEOUT_MS_DEFAULT,
  });
}

/** The pool's worker entry next to this module, when this module runs from source (not from a bundle). */
function workerEntry(): string | undefined {
  try {
    const file = path.join(path.dirname(fileURLToPath(import.meta.url)), "text-worker.mjs");
    return existsSync(file) ? file : undefined;
  } catch {
    return undefined;
  }
}

interface PoolLike {
  run(task: unknown, options: { signal: AbortSignal }): Promise<unknown>;
  destroy(): Promise<void>;
}

export class WorkerTextAnalyzer implements TextAnalyzer {
  readonly mode = "workers";
  readonly scheduler: FairScheduler<TextTask, TextAnalysis>;

  constructor(
    private readonly pool: PoolLike,
    options: FairSchedulerOptions,
  ) {
    this.scheduler = new FairScheduler((task, budget) => {
      // The worker sets this flag as it begins the task (text-worker.mjs), so the budget starts then.
      const flag = new Int32Array(new SharedArrayBuffer(4));
      const wait = Atomics.waitAsync(flag, 0, 0, options.maxWaitMs ?? AGENT_TASK_MAX_WAIT_MS);
      const onWake = () => {
        if (Atomics.load(flag, 0) === 1) budget.started();
      };
      if (wait.async) void wait.value.then(onWake);
      else onWake();
      // Aborting a running task makes tinypool terminate its worker and start a new one. A task that
      // fails without being aborted (it was handed to a worker that was being terminated for another
      // task's budget, or its worker died) is tried once more, within what is left of its budget: one
      // tenant's recycled worker must not cost another tenant's next task its answer.
      const once = () =>
        pool.run({ ...task, started: flag.buffer }, { signal: budget.signal }) as Promise<TextAnalysis>;
      return once()
        .catch((err: unknown) => {
          if (budget.signal.aborted) throw err;
          return once();
        })
        .finally(() => {
          // Wakes the waiter if the task never started (refused or aborted in the queue).
          Atomics.notify(flag, 0);
        });
    }, options);
  }

  analyze(tenant: string, task: TextTask): Promise<TextOutcome> {
    return this.scheduler.submit(tenant, task);
  }

  async close(): Promise<void> {
    this.scheduler.close();
    await this.pool.destroy().catch(() => {});
  }
}

/** On the event loop, one message at a time with a yield before each, bounded by the prefix only (no budget). */
export class InlineTextAnalyzer implements TextAnalyzer {
  readonly mode = "inline";

  async analyze(_tenant: string, task: TextTask): Promise<TextOutcome> {
    await new Promise((resolve) => setImmediate(resolve));
    try {
      return { ok: true, value: analyzeText(task) };
    } catch {
      return { ok: false, reason: "failed" };
    }
  }

  async close(): Promise<void> {}
}
