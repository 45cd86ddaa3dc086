import { createHash } from "node:crypto";
import { appendFile, mkdir } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { InvalidError } from "../state/errors";
import type { StepDefinition, WorkflowType } from "./types";

const stepMap = <T extends z.ZodType>(value: T) =>
  z.record(z.string().regex(/^\d{1,3}$/, "keys are step numbers"), value);

const PlanInput = z
  .object({
    /** How many steps the plan has. */
    steps: z.number().int().min(1).max(100).default(5),
    /** Makes results differ between runs; the result is a function of the seed and the step count only. */
    seed: z.string().max(200).default(""),
    /** Every step takes this long (ms)... */
    slowMs: z.number().int().min(0).max(60_000).default(0),
    /** ...or, per step number, this long. */
    stepSlowMs: stepMap(z.number().int().min(0).max(60_000)).default({}),
    /** Per step number: fail the first K attempts of that step. */
    failTimes: stepMap(z.number().int().min(0).max(100)).default({}),
    /** Name of a JSON-lines file under the data directory's workflow-effects/ where each step execution appends itself. */
    effectsLog: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/)
      .optional(),
    checkpointEvery: z.number().int().min(1).max(100).default(1),
  })
  .strict();

export type PlanInput = z.infer<typeof PlanInput>;

export interface PlanStepResult {
  step: number;
  digest: string;
}

/**
 * `plan`: N steps whose results chain (each a digest of the seed and the previous result), which can
 * be made slow or made to fail K times, and which can record each execution in a file: for tests,
 * demos and measuring the engine. The side-effect log lives under `effectsDir` only (a name, not a path,
 * comes from the input), so a caller cannot make the server write anywhere else, and only when the
 * operator turned it on (STATEHOUSE_WORKFLOW_EFFECTS_LOG=on, for tests and demos): otherwise 422.
 */
export function planWorkflow(options: { effectsDir?: string }): WorkflowType<PlanInput> {
  const step = (n: number): StepDefinition<PlanInput> => ({
    name: `step ${n}`,
    async run({ input, results, attempt, idempotencyKey, signal }) {
      if (input.effectsLog && options.effectsDir) {
        await mkdir(options.effectsDir, { recursive: true });
        // One write() of one line with O_APPEND: lines from concurrent processes never interleave.
        const line = `${JSON.stringify({ step: n, idempotencyKey, attempt, pid: process.pid, at: Date.now() })}\n`;
        await appendFile(path.join(options.effectsDir, `${input.effectsLog}.jsonl`), line);
      }
      const ms = input.stepSlowMs[String(n)] ?? input.slowMs;
      if (ms > 0) await sleep(ms, undefined, { signal });
      if (attempt <= (input.failTimes[String(n)] ?? 0))
        throw new Error(`step ${n} failed on purpose (attempt ${attempt})`);
      const previous = (results[n - 2] as PlanStepResult | undefined)?.digest ?? "";
      return {
        step: n,
        digest: createHash("sha256").update(`${input.seed}|${n}|${previous}`).digest("hex").slice(0, 16),
      } satisfies PlanStepResult;
    },
  });
  return {
    name: "plan",
    description: "A multi-step plan whose steps can be slow or fail K times (tests and demos)",
    input: PlanInput,
    checkInput(input) {
      if (input.effectsLog && !options.effectsDir)
        throw new InvalidError("effectsLog is off on this server (STATEHOUSE_WORKFLOW_EFFECTS_LOG)", {
          field: "input.effectsLog",
        });
    },
    steps: (input) => Array.from({ length: input.steps }, (_, i) => step(i + 1)),
    result: (input, results) => ({
      steps: input.steps,
      digest: (results[results.length - 1] as PlanStepResult).digest,
    }),
    maxAttempts: 3,
    backoffMs: 200,
    checkpointEvery: (input) => input.checkpointEvery,
  };
}
