// Long-term memory in an agent's turns, for agents whose memory policy has `longTerm: true` and sessions
// that name their user: before the model answers, the user's most relevant memories join the context;
// after the turn is saved, what it taught is promoted to memories, off the request path. Neither can
// fail or hold up a turn: a recall that fails leaves the context without memories, a promotion that
// fails is logged and counted.
import { type MemoryService, USER_ID } from "../memories/memories";
import { EXTRACTION_INSTRUCTIONS, type ExtractedMemory, memoriesFrom, memoriesFromModel } from "../memories/extraction";
import type { AgentModel } from "./model";
import type { ResolvedAgent } from "./definitions";
import { type Entities, type Fact, type Intent, mergeEntities, patternEntities } from "./nlp";

/** How many of the user's memories a turn's context gets. */
export const RECALLED_MEMORIES = 5;

export interface Recalled {
  /** The memories' texts, most relevant first (what an upstream model is told). */
  texts: string[];
  /** Entities the memories name (the session's own win over them). */
  entities: Entities;
  /** The memories as statements the offline model can answer from. */
  facts: Fact[];
}

/** The end user a session or response names, when it is a valid user id (else long-term memory stays out). */
export function endUser(...candidates: (string | null | undefined)[]): string | undefined {
  const id = candidates.find((c) => c !== undefined && c !== null);
  return id && USER_ID.test(id) ? id : undefined;
}

/**
 * What the calling key may do with its users' memories in a turn: recall them (memories:read) and keep
 * what the turn taught (memories:write). A key with agents:invoke alone names no memories' reader.
 */
export interface MemoryAccess {
  recall: boolean;
  promote: boolean;
}

export const NOTHING_RECALLED: Recalled = { texts: [], entities: {}, facts: [] };

export interface LongTermEvents {
  /** A recall or a promotion that failed (its error's name), for the logs and metrics. */
  onFailure?(stage: "recall" | "promote" | "extract", err: unknown): void;
  /** How long extraction and promotion of one turn took, and how many memories it wrote. */
  onPromoted?(seconds: number, written: number): void;
  /** Each recall: whether memories joined the context (used), none were found (empty), or it failed. */
  onRecall?(result: "used" | "empty" | "failed"): void;
}

/** Promotions one tenant may have running at once in a process; more are dropped (reported), not queued. */
export const PROMOTIONS_PER_TENANT = 4;

/** A promotion not run because the tenant already had PROMOTIONS_PER_TENANT running. */
export class PromotionsBusy extends Error {
  override readonly name = "PromotionsBusy";
}

/** The agent's model answered an extraction with something other than the JSON asked for. */
export class ExtractionUnreadable extends Error {
  override readonly name = "ExtractionUnreadable";
}

export interface LongTermOptions {
  /**
   * Counts a promotion's writes against the tenant's operations quota (and its region pin) before any
   * is made; throws to refuse (the promotion is then dropped and reported). Absent: not counted.
   */
  admit?(tenant: string, operations: number): Promise<void>;
}

/** How long a forgotten user's fence stands against promotions of turns from before the forget. */
const FENCE_MS = 10 * 60_000;

export class LongTermMemory {
  private readonly running = new Map<string, number>();
  /** Users being forgotten (tenant\u0000user → when): promotions of their earlier turns are dropped. */
  private readonly fences = new Map<string, number>();

  constructor(
    private readonly memories: Pick<MemoryService, "search" | "add">,
    private readonly events: LongTermEvents = {},
    private readonly options: LongTermOptions = {},
  ) {}

  /** The model's extraction, or the offline one when the model fails or does not answer the JSON asked for. */
  private async extractWithModel(model: AgentModel, message: string, offline: ExtractedMemory[]) {
    try {
      const { text } = await model.reply({
        instructions: EXTRACTION_INSTRUCTIONS,
        message,
        intent: "inform",
        entities: {},
        summary: "",
        recentTurns: [],
        degraded: false,
      });
      const fromModel = memoriesFromModel(text);
      if (fromModel) return fromModel;
      this.events.onFailure?.("extract", new ExtractionUnreadable("the model's answer was not the JSON asked for"));
    } catch (err) {
      this.events.onFailure?.("extract", err);
    }
    return offline;
  }

  async recall(tenant: string, agent: ResolvedAgent, userId: string, message: string): Promise<Recalled> {
    try {
      const hits = await this.memories.search(tenant, {
        userId,
        query: message,
        limit: RECALLED_MEMORIES,
        agent: agent.name,
      });
      let entities: Entities = {};
      const facts: Fact[] = [];
      // Oldest-relevance first, so the most relevant memory's entities win the merge.
      for (const { memory } of [...hits].reverse()) {
        const named = patternEntities(memory.text);
        entities = mergeEntities(entities, named);
        facts.push({ turn: 0, text: memory.text, entities: named });
      }
      this.events.onRecall?.(hits.length ? "used" : "empty");
      return { texts: hits.map((h) => h.memory.text), entities, facts };
    } catch (err) {
      this.events.onRecall?.("failed");
      this.events.onFailure?.("recall", err);
      return NOTHING_RECALLED;
    }
  }

  /**
   * The user is being forgotten: promotions in this process of the user's turns from before now (their
   * extraction may still be waiting on a model) write nothing, so no memory of them lands after the erase.
   */
  fence(tenant: string, userId: string): void {
    const now = Date.now();
    for (const [id, at] of this.fences) if (at < now - FENCE_MS) this.fences.delete(id);
    this.fences.set(`${tenant}\u0000${userId}`, now);
  }

  private fenced(tenant: string, userId: string, turnAt: number): boolean {
    const at = this.fences.get(`${tenant}\u0000${userId}`);
    return at !== undefined && at >= turnAt;
  }

  /** Starts promoting what a saved turn taught; returns at once. */
  promote(
    tenant: string,
    agent: ResolvedAgent,
    turn: { userId: string; sessionId: string; turn: number; message: string; found: Entities; intent: Intent },
    /** The agent's upstream model, when it has one: it extracts instead of the offline extractor. */
    model?: AgentModel,
  ): void {
    const offline = memoriesFrom(turn.message, turn.found, turn.intent);
    // Questions and recall tell nothing: no model call for them either.
    const asking = turn.intent === "question" || turn.intent === "recall";
    if (offline.length === 0 && (!model || asking)) return;
    // A tenant's turns cannot pile up background writes: promotions past the cap are dropped.
    const running = this.running.get(tenant) ?? 0;
    if (running >= PROMOTIONS_PER_TENANT) {
      this.events.onFailure?.("promote", new PromotionsBusy(`${running} promotions running for the tenant`));
      return;
    }
    this.running.set(tenant, running + 1);
    const started = performance.now();
    const turnAt = Date.now();
    void (async () => {
      const extracted = model && !asking ? await this.extractWithModel(model, turn.message, offline) : offline;
      if (extracted.length === 0) return;
      await this.options.admit?.(tenant, extracted.length);
      let written = 0;
      // One after another: each is consolidated with what the ones before it wrote.
      for (const m of extracted) {
        if (this.fenced(tenant, turn.userId, turnAt)) return;
        await this.memories.add(
          tenant,
          { userId: turn.userId, ...m },
          { type: "session", agent: agent.name, sessionId: turn.sessionId, turn: turn.turn },
          agent.name,
        );
        written++;
      }
      this.events.onPromoted?.((performance.now() - started) / 1000, written);
    })()
      .catch((err) => this.events.onFailure?.("promote", err))
      .finally(() => {
        const left = (this.running.get(tenant) ?? 1) - 1;
        if (left > 0) this.running.set(tenant, left);
        else this.running.delete(tenant);
      });
  }
}
