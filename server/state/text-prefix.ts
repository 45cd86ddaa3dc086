// How much of a text any analysis reads: agents' entity extraction, intent and embeddings, and the
// engine's window summaries. Here, in the engine, so windows need nothing of the agents.

/**
 * Characters of each message that entity extraction, intent, summaries and embeddings read. 4 000
 * characters is a long chat message (≈ 700 words) and keeps the worst case of `compromise` on hostile
 * text (`"a."` × 2 000) near 0.1 s of CPU on one core, against ~6 s for the 32 000 characters a message
 * may carry.
 */
export const AGENT_TEXT_PREFIX_CHARS = 4_000;

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
