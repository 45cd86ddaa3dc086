/**
 * Bounds on the CPU work agents do per message (issue 14: bounded work, fair per tenant). The whole
 * message is still stored and answered; only the text analysis (entities, intent, summary lines,
 * embeddings) reads a bounded prefix of it. Kept free of imports so the limits table and the OpenAPI
 * document can reference these without loading the NLP library.
 */

/**
 * Characters of each message that entity extraction, intent, summaries and embeddings read. 4 000
 * characters is a long chat message (≈ 700 words) and keeps the worst case of `compromise` on hostile
 * text (`"a."` × 2 000) near 0.1 s of CPU on one core, against ~6 s for the 32 000 characters a message
 * may carry.
 */
export const AGENT_TEXT_PREFIX_CHARS = 4_000;

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

/**
 * The part of `text` that agent text work reads: at most AGENT_TEXT_PREFIX_CHARS characters, cut at
 * the last whitespace of the final 64 so a word (an email address, a name) is not cut in half, and
 * never between the two halves of a surrogate pair.
 */
export function analysisPrefix(text: string, max = AGENT_TEXT_PREFIX_CHARS): string {
  if (text.length <= max) return text;
  let end = max;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  for (let i = end; i > end - 64 && i > 0; i--) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d) return text.slice(0, i);
  }
  return text.slice(0, end);
}
