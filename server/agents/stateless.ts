import { z } from "zod";
import { InvalidError } from "../state/errors";
import { relatedTopic, type RelatedTopic, type SessionProfile, withMessage } from "./embedding";
import type { AgentContext, AgentModel } from "./model";
import {
  detectIntent,
  type Entities,
  type Fact,
  type Intent,
  MAX_FACT_CHARS,
  MAX_FACTS,
  mergeEntities,
  summarizeTurn,
} from "./nlp";
import type { TextAnalyzer } from "./text-pool";

/** Documents per batch call (each is one operation against the tenant's daily quota). */
export const MAX_BATCH_DOCUMENTS = 500;
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
 * recomputed from it, the model answers, and nothing is stored. Each user message is analyzed in the
 * text pool under the tenant's share of it; a message whose analysis is over budget adds no entities
 * and no topic (the turn still answers).
 */
export async function invokeStateless(
  model: AgentModel,
  request: InvokeRequest,
  windowTurns: number,
  text: { analyzer: TextAnalyzer; tenant: string; instructions?: string },
): Promise<InvokeResult> {
  const prepared = await statelessContext(request, windowTurns, text);
  return prepared.result((await model.reply(prepared.context)).text);
}

/** A stateless turn made ready: the model's context, and the answer for a reply the model gave to it. */
export interface StatelessTurn {
  context: AgentContext;
  result(reply: string): InvokeResult;
}

/** The context of a stateless turn (see invokeStateless), for callers that stream the reply. */
export async function statelessContext(
  request: InvokeRequest,
  windowTurns: number,
  text: { analyzer: TextAnalyzer; tenant: string; instructions?: string },
): Promise<StatelessTurn> {
  const last = request.messages.at(-1);
  if (last?.role !== "user")
    throw new InvalidError("the last message must be the user's (role: user)", { field: "messages" });
  // Pair each user message with the assistant reply that followed it, as a session's turns are kept.
  const turns: { user: string; reply: string }[] = [];
  for (const m of request.messages.slice(0, -1)) {
    if (m.role === "user") turns.push({ user: m.content, reply: "" });
    else if (turns.length) turns.at(-1)!.reply += m.content;
  }
  // Submitted together: the scheduler runs them in order, within this tenant's share of the pool.
  const analyses = await Promise.all(
    [...turns.map((t) => t.user), last.content].map((content) =>
      text.analyzer.analyze(text.tenant, { text: content, embed: true }),
    ),
  );
  let entities: Entities = request.entities ?? {};
  let profile: SessionProfile | undefined;
  const facts: Fact[] = [];
  turns.forEach((t, i) => {
    const a = analyses[i]!;
    if (!a.ok) return;
    entities = mergeEntities(entities, a.value.entities);
    if (Object.keys(a.value.entities).length > 0 && !["question", "recall"].includes(a.value.intent))
      facts.push({ turn: i + 1, text: t.user.slice(0, MAX_FACT_CHARS), entities: a.value.entities });
    if (a.value.vector) profile = withMessage(profile, i + 1, t.user, a.value.vector);
  });
  const analysis = analyses.at(-1)!;
  if (analysis.ok) entities = mergeEntities(entities, analysis.value.entities);
  const summarized = turns.slice(0, Math.max(0, turns.length - windowTurns));
  const summary = [request.summary, ...summarized.map((t, i) => summarizeTurn(i + 1, t.user))]
    .filter(Boolean)
    .join("\n");
  // Intent patterns are linear and read a bounded prefix: cheap enough for the event loop when the pool gave up.
  const intent = analysis.ok ? analysis.value.intent : detectIntent(last.content);
  const vector = analysis.ok ? analysis.value.vector : undefined;
  const context: AgentContext = {
    instructions: text.instructions,
    message: last.content,
    intent,
    entities,
    summary,
    facts: facts.slice(-MAX_FACTS),
    recentTurns: turns.slice(-windowTurns),
    degraded: false,
    relatedTopic: vector ? relatedTopic(profile, vector) : undefined,
  };
  return {
    context,
    result: (reply) => ({
      reply,
      turn: turns.length + 1,
      version: null,
      intent,
      entities,
      degraded: false,
      ...(context.relatedTopic ? { relatedTopic: context.relatedTopic } : {}),
    }),
  };
}

const BatchDocument = z.object({
  id: z.string().min(1).max(128).optional(),
  text: z.string().min(1).max(32_000),
});

export type BatchItemResult =
  | { index: number; id?: string; ok: true; intent: Intent; entities: Entities }
  | { index: number; id?: string; ok: false; error: { code: "invalid" | "failed"; detail: string } };

/**
 * Classifies independent documents (intent and entities). Each item is validated on its own, so a
 * malformed one is reported in its place and the others are still answered. Valid documents go to the
 * text pool as the tenant's tasks: they run one after another within the tenant's share of the pool, so
 * a large batch never takes the pool from other tenants, and a document over its time budget (or left
 * waiting too long behind the tenant's own work) is reported `failed` in its place.
 */
export async function classifyBatch(
  documents: readonly unknown[],
  text: { analyzer: TextAnalyzer; tenant: string },
): Promise<BatchItemResult[]> {
  return Promise.all(documents.map((document, index) => classifyOne(document, index, text)));
}

const FAILED_DETAIL = {
  timeout: "the document took too long to classify",
  busy: "too many documents are waiting to be classified; send it again later",
  failed: "the document could not be classified",
} as const;

async function classifyOne(
  document: unknown,
  index: number,
  text: { analyzer: TextAnalyzer; tenant: string },
): Promise<BatchItemResult> {
  const parsed = BatchDocument.safeParse(document);
  const id =
    typeof (document as { id?: unknown })?.id === "string" ? (document as { id: string }).id.slice(0, 128) : undefined;
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      index,
      ...(id ? { id } : {}),
      ok: false,
      error: { code: "invalid", detail: `${issue?.path.join(".") || "document"}: ${issue?.message ?? "invalid"}` },
    };
  }
  const ref = { index, ...(parsed.data.id ? { id: parsed.data.id } : {}) };
  const outcome = await text.analyzer.analyze(text.tenant, { text: parsed.data.text });
  if (!outcome.ok) return { ...ref, ok: false, error: { code: "failed", detail: FAILED_DETAIL[outcome.reason] } };
  return { ...ref, ok: true, intent: outcome.value.intent, entities: outcome.value.entities };
}
