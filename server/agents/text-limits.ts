/**
 * Bounds on the CPU work agents do per message (issue 14: bounded work, fair per tenant). The whole
 * message is still stored and answered; only the text analysis (entities, intent, summary lines,
 * embeddings) reads a bounded prefix of it. Kept free of imports so the limits table and the OpenAPI
 * document can reference these without loading the NLP library.
 */

// The prefix every text analysis reads is the engine's (window summaries read it too): server/state/text-prefix.ts.
export { AGENT_TEXT_PREFIX_CHARS, analysisPrefix } from "../state/text-prefix";

/** Default time budget of one text task in the worker pool; over it the worker is recycled and the task degrades. */
export const AGENT_TASK_TIMEOUT_MS_DEFAULT = 2_000;

/**
 * How long a task may wait behind its own tenant's earlier tasks before it is given up (answered
 * without entities, or `failed` in a batch), so a tenant's huge batch cannot keep its requests open
 * for minutes.
 */
export const AGENT_TASK_MAX_WAIT_MS = 15_000;

/** Tasks one tenant may have waiting in the pool; more are refused at once (degraded / `failed`). */
export const AGENT_TASKS_QUEUED_PER_TENANT = 2_000;
