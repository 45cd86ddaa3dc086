import { embed, type Vector } from "./embedding";
import { detectIntent, type Entities, extractEntities, type Intent } from "./nlp";
import { analysisPrefix } from "./text-limits";

/** One message's text work, as the text pool runs it. */
export interface TextTask {
  text: string;
  /** Also compute the message's embedding (session turns and invoke; a batch needs none). */
  embed?: boolean;
}

export interface TextAnalysis {
  intent: Intent;
  entities: Entities;
  vector?: Vector;
}

/**
 * Intent, entities and (optionally) the embedding of a message's first AGENT_TEXT_PREFIX_CHARS
 * characters. Pure and synchronous: the worker thread runs it (server/agents/text-worker.mjs), and the
 * inline analyzer when no pool is configured.
 */
export function analyzeText(task: TextTask): TextAnalysis {
  const text = analysisPrefix(task.text);
  return {
    intent: detectIntent(text),
    entities: extractEntities(text),
    ...(task.embed ? { vector: embed(text) } : {}),
  };
}
