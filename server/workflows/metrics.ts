import type { Meter } from "@opentelemetry/api";
import { DURATION_BUCKETS } from "../telemetry/instruments";

/** Step durations run from milliseconds to minutes: the state buckets, plus a few long ones. */
const STEP_BUCKETS = [...DURATION_BUCKETS, 30, 60, 300];

/**
 * The workflow engine's instruments. Attributes are the workflow type (declared types only) and the
 * status: never a run id or tenant.
 */
export interface WorkflowMetrics {
  /** A run entered `status` (queued at start, then succeeded, failed or cancelled). */
  runEntered(type: string, status: string): void;
  stepDuration(type: string, seconds: number, outcome: "ok" | "error"): void;
  /** A worker took over a run whose previous owner's lease had expired. */
  resumed(type: string): void;
  /** A worker found its lease taken over (its write was refused) and stopped working on the run. */
  leaseLost(type: string): void;
}

export function createWorkflowMetrics(meter: Meter): WorkflowMetrics {
  const runs = meter.createCounter("statehouse.workflow.runs", {
    description: "Workflow runs entering a status (queued, succeeded, failed, cancelled), by type",
  });
  const steps = meter.createHistogram("statehouse.workflow.step.duration", {
    unit: "s",
    description: "Duration of workflow step attempts, by type and outcome",
    advice: { explicitBucketBoundaries: STEP_BUCKETS },
  });
  const resumes = meter.createCounter("statehouse.workflow.resumes", {
    description: "Runs resumed from their last checkpoint after the previous worker's lease expired",
  });
  const losses = meter.createCounter("statehouse.workflow.lease.losses", {
    description: "Workers that found their lease taken over and stopped working on a run",
  });
  return {
    runEntered: (type, status) => runs.add(1, { type, status }),
    stepDuration: (type, seconds, outcome) => steps.record(seconds, { type, outcome }),
    resumed: (type) => resumes.add(1, { type }),
    leaseLost: (type) => losses.add(1, { type }),
  };
}
