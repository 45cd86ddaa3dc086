import type { z } from "zod";
import { CodedError, InvalidError } from "../state/errors";
import type { RunStatus } from "../shared/types";

/** What a step function is given. Steps must be deterministic in these, apart from their side effects. */
export interface StepContext<I = unknown> {
  /** The run's input, as validated when it started. */
  readonly input: I;
  /** Results of the steps before this one, in order (index 0 = step 1). */
  readonly results: readonly unknown[];
  /** 1 on the first try of this step; +1 after each failure or each crash of the worker that ran it. */
  readonly attempt: number;
  /**
   * Stable for this run and step across retries and workers: a step that calls out (payments, emails,
   * APIs) passes it on so a repeat after a crash can be recognised and not done twice.
   */
  readonly idempotencyKey: string;
  /** Aborted when the worker loses its lease or shuts down: stop, the work will be redone elsewhere. */
  readonly signal: AbortSignal;
}

export interface StepDefinition<I = unknown> {
  readonly name: string;
  /** Returns the step's result (plain JSON). Throwing fails this attempt; it is retried with backoff. */
  run(ctx: StepContext<I>): Promise<unknown>;
}

/**
 * A workflow type declared in code: an input schema, the ordered steps an input expands to, and how
 * the steps' results make the run's result.
 */
export interface WorkflowType<I = unknown> {
  readonly name: string;
  readonly description: string;
  readonly input: z.ZodType<I>;
  /** Throws `too_large` (413) for inputs the schema accepts but that are too big to run. */
  checkInput?(input: I): void;
  /** The ordered steps for this input (fixed once the run starts: the count is stored with the run). */
  steps(input: I): StepDefinition<I>[];
  /** The run's result from every step's result. */
  result(input: I, results: readonly unknown[]): unknown;
  /** Attempts per step before the run fails (a crashed attempt counts). */
  readonly maxAttempts: number;
  /** Backoff before retry n is backoffMs × 2^(n-1), capped at a minute. */
  readonly backoffMs: number;
  /** Results are written (checkpointed) every this many steps; steps since the last checkpoint rerun after a crash. */
  checkpointEvery?(input: I): number;
}

/**
 * A type's full check of a run's input: its schema (which applies the defaults) and then `checkInput`.
 * Returns the parsed input, which is what steps must run on; throws `invalid` (422) or `too_large` (413).
 * Used when a run starts and again by the worker before it runs anything, so a run record that did not
 * come from `start` (corrupt, or written by an older version) fails instead of running unchecked input.
 */
export function parseRunInput<I>(type: WorkflowType<I>, input: unknown): I {
  const parsed = type.input.safeParse(input ?? {});
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 10)
      .map((i) => ({ path: ["input", ...i.path].join("."), message: i.message }));
    throw new InvalidError(`invalid input for ${type.name}: ${issues[0]?.path} ${issues[0]?.message}`, { issues });
  }
  type.checkInput?.(parsed.data);
  return parsed.data;
}

// Shared with the dashboard, which lists them (server/shared/types.ts).
export { RUN_STATUSES, type RunStatus } from "../shared/types";

export const TERMINAL: ReadonlySet<RunStatus> = new Set(["succeeded", "failed", "cancelled"]);
/** States a worker picks up (when no live lease holds the run). */
export const ACTIVE: readonly RunStatus[] = ["queued", "running", "cancelling"];

/** Who works on a run and until when. `token` is the record version the claim wrote: a fencing token. */
export interface Lease {
  readonly owner: string;
  readonly token: number;
  /** Epoch milliseconds. */
  readonly expiresAt: number;
}

export interface Checkpoint {
  /** 1-based step number. */
  readonly step: number;
  readonly name: string;
  readonly attempt: number;
  /** The worker that ran the step. */
  readonly worker: string;
  readonly durationMs: number;
  readonly completedAt: string;
}

/** A run as stored in the `workflows` namespace: one versioned record, key = run id. */
export interface RunValue {
  readonly runId: string;
  readonly type: string;
  readonly input: unknown;
  readonly status: RunStatus;
  readonly totalSteps: number;
  /** Steps completed and checkpointed; the next step to run is completedSteps + 1. */
  readonly completedSteps: number;
  readonly results: readonly unknown[];
  readonly checkpoints: readonly Checkpoint[];
  /** Attempts of the current step so far that failed or were interrupted. */
  readonly failedAttempts: number;
  /** Every attempt of every step, for the operator's view. */
  readonly attemptsTotal: number;
  readonly maxAttempts: number;
  readonly lease: Lease | null;
  /** Epoch milliseconds before which no worker takes the run (retry backoff). */
  readonly notBefore: number;
  readonly cancelRequested: boolean;
  /** Times the run was taken over from a worker whose lease expired. */
  readonly resumes: number;
  readonly lastError: string | null;
  readonly result: unknown;
  readonly error: { readonly step: number; readonly message: string } | null;
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
}

/** Errors of the workflow engine, with codes the HTTP layer maps in server/http/problem.ts. */
export type WorkflowErrorCode = "unknown_workflow_type" | "workflow_finished";

export class WorkflowError extends CodedError<WorkflowErrorCode> {
  override name = "WorkflowError";
}

/** The declared workflow types, by name. */
export class WorkflowRegistry {
  private readonly types = new Map<string, WorkflowType<unknown>>();

  // Each type's input type differs; the registry only hands inputs back to the type that parsed them.
  // biome-ignore lint/suspicious/noExplicitAny: a registry of types whose inputs differ
  constructor(types: readonly WorkflowType<any>[] = []) {
    for (const t of types) this.register(t);
  }

  register<I>(type: WorkflowType<I>): void {
    if (this.types.has(type.name)) throw new Error(`workflow type ${type.name} is declared twice`);
    this.types.set(type.name, type as unknown as WorkflowType<unknown>);
  }

  /** The type, or `unknown_workflow_type`. */
  getOrThrow(name: string): WorkflowType<unknown> {
    const t = this.types.get(name);
    if (!t)
      throw new WorkflowError(
        "unknown_workflow_type",
        `no workflow type named ${JSON.stringify(String(name).slice(0, 64))}`,
        { known: [...this.types.keys()] },
      );
    return t;
  }

  has(name: string): boolean {
    return this.types.has(name);
  }

  list(): WorkflowType<unknown>[] {
    return [...this.types.values()];
  }
}
