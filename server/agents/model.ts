import type { Config } from "../config";
import { ExtractiveSummarizer, ModelSummarizer, type WindowSummarizer } from "../state/windows";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateText, streamText } from "ai";
import { errorName } from "../logger";
import { InvalidError, StateError } from "../state/errors";
import type { Instruments } from "../telemetry/instruments";
import { DEFAULT_INSTRUCTIONS, normalizeBaseUrl, type ResolvedAgent, type UpstreamAllowlist } from "./definitions";
import type { RelatedTopic } from "./embedding";
import { countedModel, type UsageLedger } from "./usage";
import { askedKind, contentWords, type Entities, type Fact, type Intent, matchFact, recallTarget } from "./nlp";

/** Words that name the kind of thing asked for, not its subject ("what date", "the amount"). */
const KIND_WORDS = new Set([
  "date",
  "day",
  "time",
  "amount",
  "money",
  "budget",
  "price",
  "cost",
  "link",
  "url",
  "site",
]);

/** What the model sees of a session: the remembered state, not the raw log. */
export interface AgentContext {
  /** The agent's instructions, and the request's after them when it sent any. */
  instructions?: string;
  message: string;
  intent: Intent;
  entities: Entities;
  summary: string;
  /** Statements of the user's that named something (a date, a person, an amount, …), newest last. */
  facts?: readonly Fact[];
  recentTurns: { user: string; reply: string }[];
  degraded: boolean;
  /** The earlier message closest to this one (from the session's profile vector in `embeddings`). */
  relatedTopic?: RelatedTopic;
  /** The user's long-term memories most relevant to the message (agents with `memory.longTerm`). */
  memories?: readonly string[];
}

/** The tokens one model call used: the upstream's count when it reports one, estimated otherwise. */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  /** True when counted here (about four characters a token), not by the model. */
  estimated: boolean;
}

export interface ModelReply {
  text: string;
  usage: TokenUsage;
}

/** The language model behind an agent. */
export interface AgentModel {
  readonly name: string;
  reply(context: AgentContext): Promise<ModelReply>;
  /** Streams the reply in pieces (joined they equal reply()'s text); the generator returns the usage. */
  stream(context: AgentContext): AsyncGenerator<string, TokenUsage, undefined>;
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

  async reply(c: AgentContext): Promise<ModelReply> {
    const text = this.answer(c);
    return { text, usage: estimatedUsage(c, text) };
  }

  async *stream(c: AgentContext): AsyncGenerator<string, TokenUsage, undefined> {
    const text = this.answer(c);
    for (const piece of text.match(/\S+\s*/g) ?? [text]) yield piece;
    return estimatedUsage(c, text);
  }

  private answer(c: AgentContext): string {
    const who = c.entities.name ? `, ${c.entities.name}` : "";
    switch (c.intent) {
      case "greeting":
        return `Hello${who}! How can I help?`;
      case "farewell":
        return `Goodbye${who}. I'll remember where we left off.`;
      case "thanks":
        return `You're welcome${who}.`;
      case "recall": {
        if (c.degraded) return "I can't reach my memory right now, so I don't remember that at the moment.";
        const target = recallTarget(c.message);
        // One-valued facts (email, name, phone) answer directly; anything else from the statement it was in.
        const direct = target === "email" || target === "name" || target === "phone" ? c.entities[target] : undefined;
        const fromFact = direct ? undefined : answerFromFact(c);
        if (fromFact) return fromFact;
        if (!target)
          return c.summary ? `Here's what I remember: ${c.summary}` : "I don't remember anything about that yet.";
        const value = c.entities[target];
        const label = LABELS[target] ?? target;
        if (value === undefined || (Array.isArray(value) && value.length === 0))
          return `You haven't told me your ${label} yet.`;
        if (!Array.isArray(value)) return `Your ${label} is ${value}.`;
        // "When is my flight?" with no statement about a flight: the dates known are not its answer.
        const subject = [...contentWords(c.message, false)].filter((w) => !KIND_WORDS.has(w.replace(/s$/, "")));
        if (subject.length > 0) return `You haven't told me about your ${subject.join(" ")} yet.`;
        return `The ${label} you mentioned: ${value.join(", ")}.`;
      }
      default: {
        const learned = Object.entries(c.entities)
          .filter(([k]) => ["name", "email", "phone"].includes(k))
          .map(([k, v]) => `${LABELS[k as keyof Entities]}: ${v}`);
        const noted = learned.length && c.intent === "inform" ? ` I've noted your ${learned.join(", ")}.` : "";
        const earlier = c.relatedTopic
          ? ` This ties in with what you said earlier (turn ${c.relatedTopic.turn}): "${c.relatedTopic.text}".`
          : "";
        if (c.intent === "question") {
          const fromFact = answerFromFact(c);
          if (fromFact) return fromFact;
        }
        if (
          c.intent === "inform" &&
          /^(?:(?:can|could|would|will) you |please )?(?:note|remember|keep in mind|write down|jot down) that\b/i.test(
            c.message,
          )
        )
          return `Noted: ${c.message.replace(/^.*?\bthat\s+/i, "").replace(/[?.!]+$/, "")}.`;
        return c.intent === "question" || c.intent === "request"
          ? `I understand you're asking: "${c.message.slice(0, 200)}". I'll keep it in mind.${noted}${earlier}`
          : `Got it.${noted}${earlier}`;
      }
    }
  }
}

/**
 * An answer from a remembered statement: the entity the question asks for ("When is my dentist
 * appointment?" → the date of the statement about it), or the statement itself.
 */
function answerFromFact(c: AgentContext): string | undefined {
  const fact = matchFact(c.message, c.facts ?? []);
  if (!fact) return undefined;
  const kind = askedKind(c.message);
  const found = kind ? fact.entities[kind] : undefined;
  const quoted = `you told me: "${fact.text}"`;
  if (Array.isArray(found) && found.length) return `${found.join(", ")} — ${quoted}`;
  return `From what ${quoted}`;
}

/** Token counts: estimated at about four characters a token (no tokenizer runs here). */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** Usage estimated from what a model is sent (instructions, memory, the window's turns, the message) and said. */
export function estimatedUsage(c: AgentContext, reply: string): TokenUsage {
  // Counted, not joined: a full window is up to 256 KiB of text, and only its length matters here.
  let chars = (c.instructions ?? "").length + c.summary.length + JSON.stringify(c.entities).length + c.message.length;
  for (const t of c.recentTurns) chars += t.user.length + t.reply.length;
  return { inputTokens: Math.ceil(chars / 4), outputTokens: estimateTokens(reply), estimated: true };
}

/** The upstream's count where it gave one, each side estimated where it did not. */
function reportedUsage(
  reported: { inputTokens: number | undefined; outputTokens: number | undefined } | undefined,
  c: AgentContext,
  reply: string,
): TokenUsage {
  const estimate = estimatedUsage(c, reply);
  if (reported?.inputTokens === undefined || reported.outputTokens === undefined) return estimate;
  return { inputTokens: reported.inputTokens, outputTokens: reported.outputTokens, estimated: false };
}

type GenAiInstruments = Pick<Instruments, "genAiOperationDuration" | "genAiTokenUsage">;

/**
 * A model whose calls are recorded as OpenTelemetry's GenAI conventions name them: duration per call
 * (with `error.type` when it failed) and input and output tokens. Labels name the provider and the kind
 * of agent (`assistant` or `custom`), never a tenant's agent name.
 */
export function measuredModel(
  model: AgentModel,
  labels: { provider: string; agent: "assistant" | "custom" },
  instruments: GenAiInstruments,
): AgentModel {
  const attributes = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": labels.provider,
    "statehouse.agent": labels.agent,
  };
  const record = (started: number, usage: TokenUsage | undefined, error?: unknown) => {
    const failed = error === undefined ? undefined : ((error as { code?: string }).code ?? errorName(error));
    instruments.genAiOperationDuration.record(
      (performance.now() - started) / 1000,
      failed ? { ...attributes, "error.type": failed } : attributes,
    );
    if (!usage) return;
    instruments.genAiTokenUsage.record(usage.inputTokens, { ...attributes, "gen_ai.token.type": "input" });
    instruments.genAiTokenUsage.record(usage.outputTokens, { ...attributes, "gen_ai.token.type": "output" });
  };
  return {
    name: model.name,
    async reply(c) {
      const started = performance.now();
      try {
        const reply = await model.reply(c);
        record(started, reply.usage);
        return reply;
      } catch (err) {
        record(started, undefined, err);
        throw err;
      }
    },
    async *stream(c) {
      const started = performance.now();
      try {
        const usage = yield* model.stream(c);
        record(started, usage);
        return usage;
      } catch (err) {
        record(started, undefined, err);
        throw err;
      }
    },
  };
}

/** Sampling settings an agent's definition may set (`generation`). */
export interface Generation {
  temperature?: number;
  maxOutputTokens?: number;
}

/**
 * Any OpenAI-compatible chat endpoint through the Vercel AI SDK: the server's (LLM_BASE_URL, LLM_MODEL,
 * LLM_API_KEY) or an agent's own. `fetch` is where a tenant-chosen upstream gets its limits.
 */
export class OpenAICompatibleModel implements AgentModel {
  readonly name: string;
  private readonly model;
  private readonly generation: Generation;

  constructor(options: {
    baseURL: string;
    model: string;
    apiKey?: string;
    generation?: Generation;
    fetch?: typeof fetch;
  }) {
    this.name = `openai-compatible:${options.model}`;
    this.generation = options.generation ?? {};
    this.model = createOpenAICompatible({
      name: "statehouse-llm",
      baseURL: options.baseURL,
      apiKey: options.apiKey,
      fetch: options.fetch,
      includeUsage: true,
    }).chatModel(options.model);
  }

  async reply(c: AgentContext): Promise<ModelReply> {
    try {
      const { text, usage } = await generateText({
        model: this.model,
        messages: messages(c),
        maxRetries: 1,
        ...this.generation,
      });
      return { text, usage: reportedUsage(usage, c, text) };
    } catch (err) {
      throw upstreamFailed(err);
    }
  }

  /** One completion of a plain prompt (used to summarize rolling windows). */
  async complete(prompt: string): Promise<string> {
    const { text } = await generateText({ model: this.model, prompt, maxRetries: 1 });
    return text;
  }

  async *stream(c: AgentContext): AsyncGenerator<string, TokenUsage, undefined> {
    let failure: unknown;
    const result = streamText({
      model: this.model,
      messages: messages(c),
      maxRetries: 1,
      ...this.generation,
      onError: ({ error }) => {
        failure = error;
      },
    });
    let text = "";
    for await (const piece of result.textStream) {
      text += piece;
      yield piece;
    }
    if (failure !== undefined) throw upstreamFailed(failure);
    // The count arrives in the stream's last chunk (stream_options.include_usage); estimated without it.
    return reportedUsage(await Promise.resolve(result.usage).catch(() => undefined), c, text);
  }
}

/** 502: the agent's model did not answer (its message says why, never the upstream's body or key). */
function upstreamFailed(err: unknown): StateError {
  // The SDK wraps what went wrong (our limits' errors, timeouts) in its own errors: read the whole chain.
  type Link = { name?: string; message?: string; statusCode?: number; cause?: unknown };
  const chain: Link[] = [];
  for (let e = err as Link | undefined; e && chain.length < 8; e = e.cause as Link | undefined) chain.push(e);
  const ours = chain
    .find((e) => e.message?.startsWith("upstream:"))
    ?.message?.slice(9)
    .trim();
  const timedOut = chain.some((e) => e.name === "TimeoutError");
  const status = chain.find((e) => typeof e.statusCode === "number" && e.statusCode !== 200)?.statusCode;
  const why =
    ours ??
    (timedOut ? "it did not answer in time" : status ? `it answered HTTP ${status}` : "its answer could not be used");
  return new StateError("upstream_failed", `the agent's model failed: ${why}`);
}

/**
 * fetch for a tenant-chosen upstream: no redirects (a redirect could lead the agent's key elsewhere), a
 * deadline for the whole call and a cap on the bytes of its answer.
 */
export function limitedFetch(limits: { timeoutMs: number; maxBytes: number }): typeof fetch {
  return async (input, init) => {
    const deadline = AbortSignal.timeout(limits.timeoutMs);
    const signal = init?.signal ? AbortSignal.any([init.signal, deadline]) : deadline;
    const response = await fetch(input, { ...init, redirect: "manual", signal });
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel();
      throw new Error(`upstream: it answered a redirect (HTTP ${response.status}), which is not followed`);
    }
    if (!response.body) return response;
    let seen = 0;
    const capped = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          seen += chunk.byteLength;
          if (seen > limits.maxBytes)
            controller.error(new Error(`upstream: its answer exceeded ${limits.maxBytes} bytes`));
          else controller.enqueue(chunk);
        },
      }),
    );
    return new Response(capped, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}

function messages(c: AgentContext) {
  const memory = [
    c.summary && `Summary of earlier conversation: ${c.summary}`,
    Object.keys(c.entities).length > 0 && `Known facts about the user: ${JSON.stringify(c.entities)}`,
    c.degraded && "Memory is unavailable right now; answer without it and say so if asked to recall.",
    c.relatedTopic &&
      `An earlier message of the user's on a related topic (turn ${c.relatedTopic.turn}): ${c.relatedTopic.text}`,
    c.memories?.length &&
      `What you remember about the user from earlier sessions:\n${c.memories.map((m) => `- ${m}`).join("\n")}`,
  ].filter(Boolean);
  return [
    { role: "system" as const, content: [c.instructions ?? DEFAULT_INSTRUCTIONS, ...memory].join("\n") },
    ...c.recentTurns.flatMap((t) => [
      { role: "user" as const, content: t.user },
      { role: "assistant" as const, content: t.reply },
    ]),
    { role: "user" as const, content: c.message },
  ];
}

/**
 * The model of each agent: the server's for the built-in agent, the offline model, or an agent's own
 * OpenAI-compatible upstream, checked against the operator's allowlists at every call (they may have
 * changed since the definition was saved) and called with limitedFetch.
 */
export class AgentModels {
  private readonly builtIn: AgentModel;
  private readonly offline: AgentModel;
  private readonly upstreams = new Map<string, AgentModel>();

  constructor(
    builtIn: AgentModel,
    private readonly upstream: UpstreamAllowlist & { timeoutMs: number; maxBytes: number },
    private readonly instruments: GenAiInstruments,
    /** Where each tenant's agents' turns are counted (the admin API's per-agent figures). */
    private readonly ledger?: UsageLedger,
    private readonly env: Record<string, string | undefined> = process.env,
  ) {
    const providerOf = (m: AgentModel) => (m.name === "offline" ? "statehouse" : "openai");
    this.builtIn = measuredModel(builtIn, { provider: providerOf(builtIn), agent: "assistant" }, instruments);
    this.offline = measuredModel(new OfflineModel(), { provider: "statehouse", agent: "custom" }, instruments);
  }

  /** The model of `tenant`'s `agent` for one turn starting now, its latency and tokens counted for that agent. */
  for(agent: ResolvedAgent, tenant: string): AgentModel {
    const model = this.modelOf(agent);
    const ledger = this.ledger;
    return ledger ? countedModel(model, (f) => ledger.add(tenant, agent.name, new Date(), f)) : model;
  }

  /**
   * The agent's own upstream model (not the built-in or offline one), for work besides its turns (long-term
   * memory extraction): measured like its turns (GenAI metrics), not counted as turns of the agent.
   */
  upstreamOf(agent: ResolvedAgent): AgentModel | undefined {
    if (agent.builtIn || agent.model.provider === "offline") return undefined;
    try {
      return this.modelOf(agent);
    } catch {
      return undefined; // off the allowlist now: the offline extractor does
    }
  }

  private modelOf(agent: ResolvedAgent): AgentModel {
    if (agent.builtIn) return this.builtIn;
    const model = agent.model;
    if (model.provider === "offline") return this.offline;
    if (!this.upstream.baseUrls.map(normalizeBaseUrl).includes(normalizeBaseUrl(model.baseUrl)))
      throw new InvalidError("the agent's model.baseUrl is no longer on this server's allowlist", {
        field: "model.baseUrl",
      });
    if (model.apiKeyEnv !== undefined && !this.upstream.apiKeyEnvs.includes(model.apiKeyEnv))
      throw new InvalidError("the agent's model.apiKeyEnv is no longer on this server's allowlist", {
        field: "model.apiKeyEnv",
      });
    const apiKey = model.apiKeyEnv === undefined ? undefined : this.env[model.apiKeyEnv];
    const key = JSON.stringify([model.baseUrl, model.name, apiKey ?? "", agent.generation]);
    let found = this.upstreams.get(key);
    if (!found) {
      if (this.upstreams.size >= 256) this.upstreams.delete(this.upstreams.keys().next().value!);
      const upstream = new OpenAICompatibleModel({
        baseURL: model.baseUrl,
        model: model.name,
        apiKey,
        generation: agent.generation,
        fetch: limitedFetch(this.upstream),
      });
      found = measuredModel(upstream, { provider: "openai", agent: "custom" }, this.instruments);
      this.upstreams.set(key, found);
    }
    return found;
  }
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
