import { z } from "zod";
import { InvalidError } from "../state/errors";
import { embed, relatedTopic, type RelatedTopic, type SessionProfile, withMessage } from "./embedding";
import type { AgentContext, AgentModel } from "./model";
import { detectIntent, type Entities, extractEntities, type Intent, mergeEntities, summarizeTurn } from "./nlp";

/** Documents per batch call (each is one operation against the tenant's daily quota). */
export const MAX_BATCH_DOCUMENTS = 500;
/** Documents classified at once; the rest wait, and the event loop is yielded between documents. */
export const BATCH_CONCURRENCY = 8;
export const MAX_INVOKE_MESSAGES = 1000;

export interface InvokeMessage {
  role: "user" | "assistant";
  content: string;
}

export interface InvokeRequest {
  messages: InvokeMessage[];
  summary?: string;
  entities?: Entities;
}

export interface InvokeResult {
  reply: string;
  /** The number of user messages in the context sent (the turn this would be in a session). */
  turn: number;
  version: null;
  intent: Intent;
  entities: Entities;
  degraded: false;
  relatedTopic?: RelatedTopic;
}

/**
 * One turn from a context the caller sends whole: the same memory a session would hold (entities from
 * every user message, a summary line per turn beyond the window, recent turns, the profile vector) is
 * recomputed from it, the model answers, and nothing is stored.
 */
export async function invokeStateless(model: AgentModel, request: InvokeRequest, windowTurns: number): Promise<InvokeResult> {
  const last = request.messages.at(-1);
  if (!last || last.role !== "user") throw new InvalidError("the last message must be the user's (role: user)", { field: "messages" });
  // Pair each user message with the assistant reply that followed it, as a session's turns are kept.
  const turns: { user: string; reply: string }[] = [];
  for (const m of request.messages.slice(0, -1)) {
    if (m.role === "user") turns.push({ user: m.content, reply: "" });
    else if (turns.length) turns.at(-1)!.reply += m.content;
  }
  let entities: Entities = request.entities ?? {};
  let profile: SessionProfile | undefined;
  turns.forEach((t, i) => {
    entities = mergeEntities(entities, extractEntities(t.user));
    profile = withMessage(profile, i + 1, t.user);
  });
  const found = extractEntities(last.content);
  entities = mergeEntities(entities, found);
  const summarized = turns.slice(0, Math.max(0, turns.length - windowTurns));
  const summary = [request.summary, ...summarized.map((t, i) => summarizeTurn(i + 1, t.user))].filter(Boolean).join("\n");
  const intent = detectIntent(last.content);
  const context: AgentContext = {
    message: last.content,
    intent,
    entities,
    summary,
    recentTurns: turns.slice(-5),
    degraded: false,
    relatedTopic: relatedTopic(profile, embed(last.content)),
  };
  const reply = await model.reply(context);
  return { reply, turn: turns.length + 1, version: null, intent, entities, degraded: false, ...(context.relatedTopic ? { relatedTopic: context.relatedTopic } : {}) };
}

const BatchDocument = z.object({
  id: z.string().min(1).max(128).optional(),
  text: z.string().min(1).max(32_000),
});

export type BatchItemResult =
  | { index: number; id?: string; ok: true; intent: Intent; entities: Entities }
  | { index: number; id?: string; ok: false; error: { code: "invalid" | "failed"; detail: string } };

/**
 * Classifies independent documents (intent and entities), at most `concurrency` at a time. Each item is
 * validated on its own, so a malformed one is reported in its place and the others are still answered.
 */
export async function classifyBatch(documents: readonly unknown[], concurrency = BATCH_CONCURRENCY): Promise<BatchItemResult[]> {
  const results = new Array<BatchItemResult>(documents.length);
  let next = 0;
  const worker = async () => {
    while (next < documents.length) {
      const index = next++;
      results[index] = classifyOne(documents[index], index);
      // Classification is CPU work: let other requests in between documents.
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, documents.length) }, worker));
  return results;
}

function classifyOne(document: unknown, index: number): BatchItemResult {
  const parsed = BatchDocument.safeParse(document);
  const id = typeof (document as { id?: unknown })?.id === "string" ? ((document as { id: string }).id.slice(0, 128)) : undefined;
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { index, ...(id ? { id } : {}), ok: false, error: { code: "invalid", detail: `${issue?.path.join(".") || "document"}: ${issue?.message ?? "invalid"}` } };
  }
  try {
    return { index, ...(parsed.data.id ? { id: parsed.data.id } : {}), ok: true, intent: detectIntent(parsed.data.text), entities: extractEntities(parsed.data.text) };
  } catch {
    return { index, ...(parsed.data.id ? { id: parsed.data.id } : {}), ok: false, error: { code: "failed", detail: "the document could not be classified" } };
  }
}
