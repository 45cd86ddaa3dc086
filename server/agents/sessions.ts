import { randomBytes, randomUUID } from "node:crypto";
import { isConflict, isStateError, NotFoundError } from "../state/errors";
import type { PutRequest, StateService } from "../state/service";
import type { StateRef } from "../state/store";
import type { Instruments } from "../telemetry/instruments";
import { type AgentDefinitions, BUILT_IN_AGENT, type ResolvedAgent } from "./definitions";
import { relatedTopic, type RelatedTopic } from "./embedding";
import type { AgentContext, AgentModel, AgentModels } from "./model";
import { endUser, type LongTermMemory, type MemoryAccess, NOTHING_RECALLED, type Recalled } from "./long-term";
import { SessionProfiles } from "./profiles";
import { classifyBatch, type InvokeRequest, invokeStateless, statelessContext } from "./stateless";
import { detectIntent, type Entities, type Fact, type Intent, MAX_FACT_CHARS, MAX_FACTS, mergeEntities } from "./nlp";
import { analysisPrefix } from "./text-limits";
import { InlineTextAnalyzer, type TextAnalyzer } from "./text-pool";

const NAMESPACE = "sessions";
const APPEND_RETRIES = 100;

export interface Turn {
  turn: number;
  user: string;
  reply: string;
  intent: Intent;
  at: string;
}

/** A session's own rolling window (the sessions namespace's `perRecordField`), from its agent's memory policy. */
export interface SessionWindow {
  maxItems: number;
  maxBytes: number;
  summarize: boolean;
}

/** A conversation's memory, as stored in the `sessions` namespace. */
export interface SessionState {
  /** null while a conversation opened through the OpenAI door has not had its first response. */
  agent: string | null;
  /** The version of the agent's definition the newest turn ran with (0: the built-in agent). */
  agentVersion: number;
  window: SessionWindow;
  startedAt: string;
  /** The newest turns, at most the namespace's window. */
  turns: Turn[];
  /** Every turn ever taken: summarizedTurns + turns.length. */
  turnCount: number;
  /** One extractive line per turn that left the window. */
  summary: string;
  summarizedTurns: number;
  entities: Entities;
  /** The newest statements that named something, with what was found in each (the offline model recalls from them). */
  facts?: Fact[];
  intent: Intent | null;
  /** OpenAI-style metadata of a conversation (at most 16 pairs); `user_id` names the end user. */
  metadata?: Record<string, string>;
  /** The end user (session create body `userId`); long-term memory is theirs. */
  userId?: string | null;
}

export interface TurnResult {
  reply: string;
  turn: number | null;
  version: number | null;
  intent: Intent;
  entities: Entities;
  /** True when memory could not be read or written: the reply was made without (or not saved to) state. */
  degraded: boolean;
  /** The earlier message the reply picked up (from the session's profile vector). */
  relatedTopic?: RelatedTopic;
}

export interface PreparedTurn {
  context: AgentContext;
  /** The agent's model: reply or stream with `context`, then commit what it said. */
  model: AgentModel;
  /** Saves the turn with its reply (compare-and-set, retried so concurrent messages all land). */
  commit(reply: string): Promise<TurnResult>;
}

/**
 * Agent sessions: memory in versioned state. Each turn is one compare-and-set update of the session's
 * record; concurrent messages retry on the newer version, so all land with consecutive turn numbers.
 */
export class AgentService {
  private readonly profiles: SessionProfiles;

  constructor(
    private readonly state: StateService,
    readonly definitions: AgentDefinitions,
    private readonly models: AgentModels,
    private readonly instruments?: Pick<Instruments, "agentTurnDuration" | "lifecycleEvents">,
    /** Where entities, intent and embeddings are computed: the worker pool built by the container. */
    private readonly text: TextAnalyzer = new InlineTextAnalyzer(),
    /** Users' memories beyond a session, for agents whose memory policy has `longTerm`. */
    private readonly longTerm?: LongTermMemory,
  ) {
    this.profiles = new SessionProfiles(state);
  }

  async createSession(
    tenant: string,
    agent: string,
    options: { userId?: string } = {},
  ): Promise<{ sessionId: string; version: number; createdAt: Date }> {
    const definition = await this.definitions.resolve(tenant, agent);
    const sessionId = randomUUID();
    const initial: SessionState = { ...emptyMemory(definition), ...(options.userId ? { userId: options.userId } : {}) };
    const { record } = await this.state.put(this.ref(tenant, sessionId), initial, {
      createOnly: true,
      actor: agent,
      ...lifetime(definition, initial.startedAt),
    });
    return { sessionId, version: record.version, createdAt: record.createdAt };
  }

  async getSession(tenant: string, agent: string, sessionId: string) {
    await this.definitions.resolve(tenant, agent);
    const record = await this.state.getOrThrow(this.ref(tenant, sessionId));
    const session = record.value as SessionState;
    if (session.agent !== agent) throw new NotFoundError(this.ref(tenant, sessionId));
    const window = session.window;
    return {
      sessionId,
      version: record.version,
      updatedAt: record.updatedAt,
      expiresAt: record.expiresAt,
      sizeBytes: record.sizeBytes,
      ...session,
      agent,
      budget: {
        turns: { used: session.turns.length, max: window.maxItems },
        bytes: { used: Buffer.byteLength(JSON.stringify(session.turns)), max: window.maxBytes },
        sizeBytes: { used: record.sizeBytes, max: this.state.policy(NAMESPACE).maxBytes.fail },
      },
    };
  }

  async endSession(tenant: string, agent: string, sessionId: string): Promise<void> {
    await this.getSession(tenant, agent, sessionId);
    await this.state.delete(this.ref(tenant, sessionId), { actor: agent });
    await this.profiles.remove(this.profiles.ref(tenant, agent, sessionId), agent);
  }

  /** A turn from a context sent whole; nothing is read or stored. */
  async invoke(tenant: string, agent: string, request: InvokeRequest) {
    const definition = await this.definitions.resolve(tenant, agent);
    return invokeStateless(this.models.for(definition, tenant), request, definition.memory.windowTurns, {
      analyzer: this.text,
      tenant,
      instructions: definition.instructions,
    });
  }

  /**
   * A stateless turn made ready for a caller that streams (the OpenAI door's chat completions): the
   * agent's model and the context from the messages sent; `instructions` are added to the agent's.
   */
  async prepareStateless(tenant: string, agent: string, request: InvokeRequest, instructions?: string) {
    const definition = await this.definitions.resolve(tenant, agent);
    const model = this.models.for(definition, tenant);
    const turn = await statelessContext(request, definition.memory.windowTurns, {
      analyzer: this.text,
      tenant,
      instructions: [definition.instructions, instructions].filter(Boolean).join("\n"),
    });
    return { ...turn, model, agent: definition };
  }

  /** Intent and entities of independent documents, each validated and answered on its own. */
  async classify(tenant: string, agent: string, documents: readonly unknown[]) {
    await this.definitions.resolve(tenant, agent);
    return classifyBatch(documents, { analyzer: this.text, tenant });
  }

  /** Reads memory and builds the model's context; unreachable stores give a stateless, degraded context. */
  async prepareTurn(
    tenant: string,
    agent: string,
    sessionId: string,
    message: string,
    /**
     * `instructions`: added to the agent's for this turn only. `bind`: a conversation not yet bound to an
     * agent is bound to this one. `memory`: what the calling key may do with the user's long-term memories.
     */
    options: { instructions?: string; bind?: boolean; memory?: MemoryAccess } = {},
  ): Promise<PreparedTurn> {
    const definition = await this.definitions.resolve(tenant, agent);
    const model = this.models.for(definition, tenant);
    const ref = this.ref(tenant, sessionId);
    const started = performance.now();
    // Analyzed in the text pool while the session and profile are read. Over its budget, the turn goes
    // on without entities or topic (intent from the linear patterns, on the event loop).
    const analyzed = this.text.analyze(tenant, { text: message, embed: true });
    // The profile is read alongside the session (hot-first); it never rejects.
    const profileRef = this.profiles.ref(tenant, agent, sessionId);
    const profileRead = this.profiles.read(profileRef);
    let session: SessionState | undefined;
    try {
      const record = await this.state.getOrThrow(ref);
      session = record.value as SessionState;
      if (session.agent !== agent && !(options.bind && session.agent === null)) throw new NotFoundError(ref);
    } catch (err) {
      if (!isUnavailable(err)) throw err;
    }
    // The user's memories are searched while the message is analyzed.
    const userId = endUser(session?.userId, session?.metadata?.user_id);
    const recalling = options.memory?.recall ? this.recall(tenant, definition, userId, message) : NOTHING_RECALLED;
    const analysis = await analyzed;
    const intent = analysis.ok ? analysis.value.intent : detectIntent(message);
    // An agent whose memory keeps no entities neither stores nor uses them.
    const found: Entities = analysis.ok && definition.memory.entities ? analysis.value.entities : {};
    const vector = analysis.ok ? analysis.value.vector : undefined;
    const entities = mergeEntities(session?.entities ?? {}, found);
    const context = contextOf(definition, session, await recalling, {
      message,
      intent,
      entities,
      instructions: options.instructions,
      relatedTopic: session && vector ? relatedTopic((await profileRead).profile, vector) : undefined,
    });
    const measured = async (result: TurnResult) => {
      // Tenants name their agents: the metric says only which kind ran (per-agent figures: the admin API).
      this.instruments?.agentTurnDuration.record((performance.now() - started) / 1000, {
        agent: definition.builtIn ? agent : "custom",
        degraded: String(result.degraded),
      });
      return result;
    };
    if (!session) {
      return {
        context,
        model,
        commit: async (reply) => measured({ reply, turn: null, version: null, intent, entities, degraded: true }),
      };
    }
    const known = session;
    return {
      context,
      model,
      commit: async (reply) => {
        // Both writes of the turn are checked together first, so a refused turn writes neither.
        const planned = {
          ...known,
          turns: [
            ...known.turns,
            { turn: known.turnCount + 1, user: message, reply, intent, at: new Date().toISOString() },
          ],
        };
        await this.state.checkWrites(
          tenant,
          [
            { op: "put", namespace: NAMESPACE, key: sessionId, value: planned },
            {
              op: "put",
              namespace: profileRef.namespace,
              key: profileRef.key,
              value: (await profileRead).profile ?? {},
            },
          ],
          agent,
        );
        const result = await this.appendTurn(ref, definition, message, reply, intent, found);
        if (result.turn !== null && userId && definition.memory.longTerm && options.memory?.promote)
          this.longTerm?.promote(
            tenant,
            definition,
            { userId, sessionId, turn: result.turn, message, found, intent },
            this.models.upstreamOf(definition),
          );
        // Without a vector (analysis over budget) the profile skips this message; it is derived data.
        if (result.turn !== null && vector)
          await this.profiles.update(profileRef, await profileRead, result.turn, message, vector, agent);
        return measured(context.relatedTopic ? { ...result, relatedTopic: context.relatedTopic } : result);
      },
    };
  }

  // Conversations (the OpenAI door): sessions keyed `conv_…`, unbound until their first response.

  /** Opens a conversation with `messages` as its first items; no agent yet (the first response binds one). */
  async createConversation(tenant: string, metadata: Record<string, string>, messages: readonly ConversationMessage[]) {
    const defaults = await this.definitions.resolve(tenant, BUILT_IN_AGENT);
    const id = `conv_${randomBytes(16).toString("hex")}`;
    const opened: SessionState = { ...emptyMemory(defaults), agent: null, metadata };
    const { record } = await this.state.put(this.ref(tenant, id), withMessages(opened, messages), {
      createOnly: true,
      actor: "openai",
    });
    return { id, version: record.version, createdAt: record.createdAt, state: record.value as SessionState };
  }

  async readConversation(tenant: string, id: string) {
    const record = await this.state.getOrThrow(this.ref(tenant, id));
    return { id, version: record.version, createdAt: record.createdAt, state: record.value as SessionState };
  }

  /** Changes a conversation by `change` (compare-and-set, retried so concurrent changes all land). */
  async changeConversation(tenant: string, id: string, change: (state: SessionState) => SessionState) {
    for (let attempt = 0; ; attempt++) {
      const current = await this.state.getOrThrow(this.ref(tenant, id), { consistency: "strong" });
      try {
        const { record } = await this.state.put(this.ref(tenant, id), change(current.value as SessionState), {
          ifVersion: current.version,
          actor: "openai",
        });
        return { id, version: record.version, createdAt: record.createdAt, state: record.value as SessionState };
      } catch (err) {
        if (!isConflict(err) || attempt >= APPEND_RETRIES) throw err;
      }
    }
  }

  async deleteConversation(tenant: string, id: string): Promise<void> {
    await this.state.getOrThrow(this.ref(tenant, id));
    await this.state.delete(this.ref(tenant, id), { actor: "openai" });
  }

  /**
   * A turn on memory the caller holds (a stored response's, for `previous_response_id`, or none): the
   * agent's model, its context, and the memory after the reply. Nothing is read or written here.
   */
  async prepareDetached(
    tenant: string,
    agent: string,
    memory: SessionState | undefined,
    message: string,
    instructions?: string,
    /** The end user (the response's metadata.user_id) and the response's id, for long-term memory. */
    source?: { userId?: string; responseId: string; memory?: MemoryAccess },
  ) {
    const definition = await this.definitions.resolve(tenant, agent);
    const model = this.models.for(definition, tenant);
    const analysis = await this.text.analyze(tenant, { text: message, embed: false });
    const intent = analysis.ok ? analysis.value.intent : detectIntent(message);
    const found: Entities = analysis.ok && definition.memory.entities ? analysis.value.entities : {};
    const remembered = memory ?? emptyMemory(definition);
    const userId = endUser(source?.userId, remembered.userId, remembered.metadata?.user_id);
    const base: SessionState = {
      ...remembered,
      agent,
      agentVersion: definition.version,
      window: windowOf(definition),
      // Kept with the memory, so a response continuing this one (previous_response_id) is the user's too,
      // for recall and for forgetting them, whether or not it names the user again.
      ...(userId ? { userId } : {}),
    };
    const recalled = source?.memory?.recall ? await this.recall(tenant, definition, userId, message) : NOTHING_RECALLED;
    const context = contextOf(definition, base, recalled, {
      message,
      intent,
      entities: mergeEntities(base.entities, found),
      instructions,
    });
    const next = (reply: string): SessionState => {
      const turn = base.turnCount + 1;
      if (userId && source?.memory?.promote && definition.memory.longTerm)
        this.longTerm?.promote(
          tenant,
          definition,
          { userId, sessionId: source.responseId, turn, message, found, intent },
          this.models.upstreamOf(definition),
        );
      return withTurn(base, { turn, user: message, reply, intent, at: new Date().toISOString() }, found);
    };
    return { context, model, definition, next };
  }

  /** Keeps a response of the OpenAI door (its object, input and the memory after it) for 30 days. */
  async saveResponse(tenant: string, id: string, stored: StoredResponse): Promise<void> {
    await this.state.put(this.responseRef(tenant, id), stored, { createOnly: true, actor: "openai" });
  }

  async readResponse(tenant: string, id: string): Promise<StoredResponse> {
    return (await this.state.getOrThrow(this.responseRef(tenant, id))).value as StoredResponse;
  }

  async deleteResponse(tenant: string, id: string): Promise<void> {
    await this.state.getOrThrow(this.responseRef(tenant, id));
    await this.state.delete(this.responseRef(tenant, id), { actor: "openai" });
  }

  private responseRef(tenant: string, id: string): StateRef {
    return { tenant, namespace: "responses", key: id };
  }

  async message(tenant: string, agent: string, sessionId: string, message: string): Promise<TurnResult> {
    const turn = await this.prepareTurn(tenant, agent, sessionId, message);
    return turn.commit((await turn.model.reply(turn.context)).text);
  }

  private async appendTurn(
    ref: StateRef,
    agent: ResolvedAgent,
    user: string,
    reply: string,
    intent: Intent,
    found: Entities,
  ): Promise<TurnResult> {
    for (let attempt = 0; ; attempt++) {
      try {
        const current = await this.state.getOrThrow(ref, { consistency: "strong" });
        const session = current.value as SessionState;
        const next = withTurn(
          { ...session, agent: agent.name, agentVersion: agent.version, window: windowOf(agent) },
          { turn: session.turnCount + 1, user, reply, intent, at: new Date().toISOString() },
          found,
        );
        const { record } = await this.state.put(ref, next, {
          ifVersion: current.version,
          actor: agent.name,
          ...lifetime(agent, session.startedAt),
        });
        return {
          reply,
          turn: next.turnCount,
          version: record.version,
          intent,
          entities: next.entities,
          degraded: false,
        };
      } catch (err) {
        if (isConflict(err) && attempt < APPEND_RETRIES) continue;
        if (isUnavailable(err)) return { reply, turn: null, version: null, intent, entities: found, degraded: true };
        throw err;
      }
    }
  }

  /** The user's memories most relevant to the message, when the agent keeps long-term memory. */
  private async recall(tenant: string, agent: ResolvedAgent, userId: string | null | undefined, message: string) {
    if (!agent.memory.longTerm || !userId || !this.longTerm) return NOTHING_RECALLED;
    return this.longTerm.recall(tenant, agent, userId, message);
  }

  private ref(tenant: string, sessionId: string): StateRef {
    return { tenant, namespace: NAMESPACE, key: sessionId };
  }
}

/**
 * What the model sees of a turn on `memory` (none: memory could not be read, so the context says it is
 * degraded): the agent's instructions and the request's after them, the summary, facts and window.
 */
function contextOf(
  agent: ResolvedAgent,
  memory: SessionState | undefined,
  recalled: Recalled,
  turn: Pick<AgentContext, "message" | "intent" | "entities" | "instructions" | "relatedTopic">,
): AgentContext {
  return {
    ...turn,
    // What this session knows wins over what long-term memory recalls.
    entities: mergeEntities(recalled.entities, turn.entities),
    memories: recalled.texts,
    instructions: [agent.instructions, turn.instructions].filter(Boolean).join("\n"),
    summary: memory?.summary ?? "",
    facts: [...recalled.facts, ...(memory?.facts ?? [])],
    recentTurns: (memory?.turns ?? []).map((t) => ({ user: t.user, reply: t.reply })),
    degraded: memory === undefined,
  };
}

/**
 * Appends a turn. The sessions namespace's window policy (applied by StateService on every write)
 * keeps the newest turns and folds the ones that fall out into `summary` and `summarizedTurns`.
 */
export function withTurn(session: SessionState, turn: Turn, found: Entities): SessionState {
  const tells = Object.keys(found).length > 0 && turn.intent !== "question" && turn.intent !== "recall";
  const fact: Fact = { turn: turn.turn, text: analysisPrefix(turn.user).slice(0, MAX_FACT_CHARS), entities: found };
  return {
    ...session,
    turns: [...session.turns, turn],
    turnCount: turn.turn,
    entities: mergeEntities(session.entities, found),
    facts: tells ? [...(session.facts ?? []), fact].slice(-MAX_FACTS) : (session.facts ?? []),
    intent: turn.intent,
  };
}

/** A message added to a conversation as an item (not a turn the agent answered). */
export interface ConversationMessage {
  role: "user" | "assistant";
  text: string;
}

/** A stored response of the OpenAI door: the memory after it, at the top level so the window applies. */
export type StoredResponse = SessionState & {
  response: Record<string, unknown>;
  input: Record<string, unknown>[];
  /** The conversation it was made in, if any (its memory is the conversation's, not kept here). */
  conversation?: string;
};

/** A fresh memory for `agent`: no turns, its window. */
export function emptyMemory(agent: ResolvedAgent): SessionState {
  return {
    agent: agent.name,
    agentVersion: agent.version,
    window: windowOf(agent),
    startedAt: new Date().toISOString(),
    turns: [],
    turnCount: 0,
    summary: "",
    summarizedTurns: 0,
    entities: {},
    intent: null,
  };
}

/**
 * Items added as they are (no analysis): a user message opens a turn, an assistant message answers the
 * open one (or stands alone in a turn of its own).
 */
export function withMessages(state: SessionState, messages: readonly ConversationMessage[]): SessionState {
  let next = state;
  for (const m of messages) {
    const last = next.turns.at(-1);
    if (m.role === "assistant" && last && last.reply === "") {
      next = { ...next, turns: [...next.turns.slice(0, -1), { ...last, reply: m.text }] };
      continue;
    }
    const turn = next.turnCount + 1;
    const at = new Date().toISOString();
    const added: Turn =
      m.role === "user"
        ? { turn, user: m.text, reply: "", intent: detectIntent(m.text), at }
        : { turn, user: "", reply: m.text, intent: "inform", at };
    next = { ...next, turns: [...next.turns, added], turnCount: turn };
  }
  return next;
}

/** The window a session keeps, from its agent's memory policy. */
export function windowOf(agent: ResolvedAgent): SessionWindow {
  return { maxItems: agent.memory.windowTurns, maxBytes: agent.memory.windowBytes, summarize: agent.memory.summaries };
}

/**
 * When a session expires, from its agent's session policy: `idleTtlSeconds` after its last turn, and never
 * later than `ttlSeconds` after it started (each write sets whichever comes first). Neither: the namespace's.
 */
export function lifetime(agent: ResolvedAgent, startedAt: string): Pick<PutRequest, "ttlSeconds" | "idleTtlSeconds"> {
  const { idleTtlSeconds, ttlSeconds } = agent.session;
  if (ttlSeconds === undefined) return idleTtlSeconds === undefined ? {} : { idleTtlSeconds };
  const left = Math.max(1, Math.ceil(ttlSeconds - (Date.now() - Date.parse(startedAt)) / 1000));
  return idleTtlSeconds !== undefined && idleTtlSeconds < left ? { idleTtlSeconds } : { ttlSeconds: left };
}

function isUnavailable(err: unknown): boolean {
  return isStateError(err) && err.code === "unavailable";
}
