import type { Config } from "../config";
import { ExtractiveSummarizer, ModelSummarizer, type WindowSummarizer } from "../state/windows";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateText, streamText } from "ai";
import type { RelatedTopic } from "./embedding";
import { type Entities, type Intent, recallTarget } from "./nlp";

/** What the model sees of a session: the remembered state, not the raw log. */
export interface AgentContext {
  message: string;
  intent: Intent;
  entities: Entities;
  summary: string;
  recentTurns: { user: string; reply: string }[];
  degraded: boolean;
  /** The earlier message closest to this one (from the session's profile vector in `embeddings`). */
  relatedTopic?: RelatedTopic;
}

/** The language model behind an agent. */
export interface AgentModel {
  readonly name: string;
  reply(context: AgentContext): Promise<string>;
  /** Streams the reply in pieces; joined they equal what reply() would return. */
  stream(context: AgentContext): AsyncIterable<string>;
}

const LABELS: Partial<Record<keyof Entities, string>> = {
  email: "email",
  name: "name",
  phone: "phone number",
  dates: "dates",
  amounts: "amounts",
  urls: "links",
};

/**
 * The default model: deterministic, offline, answering from the session's remembered state. It needs no
 * download and no network, so agents work on a fresh machine and in tests.
 */
export class OfflineModel implements AgentModel {
  readonly name = "offline";

  async reply(c: AgentContext): Promise<string> {
    const who = c.entities.name ? `, ${c.entities.name}` : "";
    switch (c.intent) {
      case "greeting":
        return `Hello${who}! How can I help?`;
      case "farewell":
        return `Goodbye${who}. I'll remember where we left off.`;
      case "thanks":
        return `You're welcome${who}.`;
      case "recall": {
        const target = recallTarget(c.message);
        if (c.degraded) return "I can't reach my memory right now, so I don't remember that at the moment.";
        if (!target)
          return c.summary ? `Here's what I remember: ${c.summary}` : "I don't remember anything about that yet.";
        const value = c.entities[target];
        const label = LABELS[target] ?? target;
        if (value === undefined || (Array.isArray(value) && value.length === 0))
          return `You haven't told me your ${label} yet.`;
        return `Your ${label} is ${Array.isArray(value) ? value.join(", ") : value}.`;
      }
      default: {
        const learned = Object.entries(c.entities)
          .filter(([k]) => ["name", "email", "phone"].includes(k))
          .map(([k, v]) => `${LABELS[k as keyof Entities]}: ${v}`);
        const noted = learned.length && c.intent === "inform" ? ` I've noted your ${learned.join(", ")}.` : "";
        const earlier = c.relatedTopic
          ? ` This ties in with what you said earlier (turn ${c.relatedTopic.turn}): "${c.relatedTopic.text}".`
          : "";
        return c.intent === "question" || c.intent === "request"
          ? `I understand you're asking: "${c.message.slice(0, 200)}". I'll keep it in mind.${noted}${earlier}`
          : `Got it.${noted}${earlier}`;
      }
    }
  }

  async *stream(c: AgentContext): AsyncIterable<string> {
    const text = await this.reply(c);
    for (const piece of text.match(/\S+\s*/g) ?? [text]) yield piece;
  }
}

/** Any OpenAI-compatible chat endpoint (LLM_BASE_URL, LLM_MODEL, LLM_API_KEY) through the Vercel AI SDK. */
export class OpenAICompatibleModel implements AgentModel {
  readonly name: string;
  private readonly model;

  constructor(options: { baseURL: string; model: string; apiKey?: string }) {
    this.name = `openai-compatible:${options.model}`;
    this.model = createOpenAICompatible({
      name: "statehouse-llm",
      baseURL: options.baseURL,
      apiKey: options.apiKey,
    }).chatModel(options.model);
  }

  async reply(c: AgentContext): Promise<string> {
    const { text } = await generateText({ model: this.model, messages: messages(c), maxRetries: 1 });
    return text;
  }

  /** One completion of a plain prompt (used to summarize rolling windows). */
  async complete(prompt: string): Promise<string> {
    const { text } = await generateText({ model: this.model, prompt, maxRetries: 1 });
    return text;
  }

  async *stream(c: AgentContext): AsyncIterable<string> {
    const result = streamText({ model: this.model, messages: messages(c), maxRetries: 1 });
    for await (const piece of result.textStream) yield piece;
  }
}

function messages(c: AgentContext) {
  const memory = [
    c.summary && `Summary of earlier conversation: ${c.summary}`,
    Object.keys(c.entities).length > 0 && `Known facts about the user: ${JSON.stringify(c.entities)}`,
    c.degraded && "Memory is unavailable right now; answer without it and say so if asked to recall.",
    c.relatedTopic &&
      `An earlier message of the user's on a related topic (turn ${c.relatedTopic.turn}): ${c.relatedTopic.text}`,
  ].filter(Boolean);
  return [
    { role: "system" as const, content: `You are a helpful assistant with persistent memory.\n${memory.join("\n")}` },
    ...c.recentTurns.flatMap((t) => [
      { role: "user" as const, content: t.user },
      { role: "assistant" as const, content: t.reply },
    ]),
    { role: "user" as const, content: c.message },
  ];
}

/**
 * The agents' model from the configuration: the OpenAI-compatible one at LLM_BASE_URL, or the offline
 * model. Rolling windows are summarized by that model when there is one, extractively otherwise.
 */
export function agentModelFor(config: Pick<Config, "LLM_BASE_URL" | "LLM_MODEL" | "LLM_API_KEY">): {
  model: AgentModel;
  summarizer: WindowSummarizer;
} {
  if (!config.LLM_BASE_URL) return { model: new OfflineModel(), summarizer: new ExtractiveSummarizer() };
  const llm = new OpenAICompatibleModel({
    baseURL: config.LLM_BASE_URL,
    model: config.LLM_MODEL ?? "gpt-4o-mini",
    apiKey: config.LLM_API_KEY,
  });
  return { model: llm, summarizer: new ModelSummarizer((prompt) => llm.complete(prompt), llm.name) };
}
