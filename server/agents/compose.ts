// Wires the agent domain: definitions over the state service, each agent's model within the operator's
// allowlists, and the sessions service that uses both.
import type { Config } from "../config";
import type { StateService } from "../state/service";
import type { Instruments } from "../telemetry/instruments";
import { AgentDefinitions, DEFAULT_INSTRUCTIONS, type UpstreamAllowlist } from "./definitions";
import { type AgentModel, AgentModels } from "./model";
import { AgentService } from "./sessions";
import { createTextAnalyzer } from "./text-pool";
import { errorName, logger } from "../logger";
import { LongTermMemory } from "./long-term";
import { embedderFor } from "../memories/embedder";
import { MemoryService } from "../memories/memories";
import { MemoryRepository } from "../memories/memory-repository";
import { StoreService } from "../langgraph/store";
import { StoreRepository } from "../langgraph/store-repository";
import type { RedisClient } from "../state/redis";
import { AgentInsights } from "./insights";
import { type ForgetParts, UserForgetting } from "../memories/forget";
import { ForgetRepository } from "../memories/forget-repository";
import type { ArchiveStore } from "../state/archive";
import type { TenantPolicyService } from "../policies/tenant-policies";
import { AgentInsightsRepository } from "./insights-repository";
import type { Sql } from "../db/state-records";
import { MemoryUsageLedger, RedisUsageLedger } from "./usage";

type Call = <T>(fn: () => Promise<T>) => Promise<T>;

/** The operator's allowlists from the configuration (nothing allowed when unset). */
export function upstreamAllowlist(config: Config): UpstreamAllowlist {
  const list = (v: string | undefined) =>
    (v ?? "")
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean);
  return { baseUrls: list(config.STATEHOUSE_AGENT_BASE_URLS), apiKeyEnvs: list(config.STATEHOUSE_AGENT_API_KEY_ENVS) };
}

/** What the agent domain is built from: the state engine's parts, Redis when configured, the warm database. */
export interface AgentParts {
  config: Config;
  state: StateService;
  /** The server's model (LLM_* or offline): the built-in agent's. */
  model: AgentModel;
  telemetry: {
    instruments: Pick<
      Instruments,
      | "agentTurnDuration"
      | "lifecycleEvents"
      | "genAiOperationDuration"
      | "genAiTokenUsage"
      | "memorySearchDuration"
      | "memoryExtractionDuration"
      | "memoryRecalls"
    >;
  };
  /** Per-agent counts go to Redis when there is one (shared by every instance), to this process otherwise. */
  redis?: RedisClient;
  /** The warm database's client, for the domain's repositories (SQL beside the state store). */
  sql: Sql;
  hotCall: Call;
  warmCall: Call;
  /** The archive, for finding a user's archived sessions when forgetting them. */
  archive?: Pick<ArchiveStore, "keysOf">;
  /** The tenants' quotas and region pins, which promotions' writes pass like the API's. */
  tenantPolicies: Pick<TenantPolicyService, "admitCall">;
  /** Idempotency replays, which forgetting a user erases too. */
  replays: ForgetParts["replays"];
}

/**
 * The agents and their long-term memories. Text work (entities, intent, embeddings) runs in worker
 * threads, fair per tenant, each task with a time budget; `close` stops them.
 */
export async function composeAgents(p: AgentParts) {
  const allow = upstreamAllowlist(p.config);
  const builtIn = { instructions: DEFAULT_INSTRUCTIONS };
  const instruments = p.telemetry.instruments;
  const text = await createTextAnalyzer({
    threads: p.config.STATEHOUSE_AGENT_THREADS,
    timeoutMs: p.config.STATEHOUSE_AGENT_TASK_TIMEOUT_MS,
    log: logger,
  });
  const ledger = p.redis ? new RedisUsageLedger(p.redis, p.config.STATEHOUSE_KEY_PREFIX) : new MemoryUsageLedger();
  const models = new AgentModels(
    p.model,
    {
      ...allow,
      timeoutMs: p.config.STATEHOUSE_AGENT_UPSTREAM_TIMEOUT_MS,
      maxBytes: p.config.STATEHOUSE_AGENT_UPSTREAM_MAX_BYTES,
    },
    instruments,
    // A count is never worth waiting for: one Redis cannot take in time is dropped (the breaker's call).
    { add: (...a) => p.hotCall(() => ledger.add(...a)), hours: (...a) => ledger.hours(...a) },
  );
  const definitions = new AgentDefinitions(p.state, allow, builtIn);
  const insights = new AgentInsights(
    definitions,
    ledger,
    new AgentInsightsRepository(p.sql),
    { hot: p.hotCall, warm: p.warmCall },
    p.model.name,
  );
  const embedder = embedderFor(p.config);
  const searched = (target: "memories" | "store") => (seconds: number) =>
    instruments.memorySearchDuration.record(seconds, { target });
  const memories = new MemoryService(p.state, new MemoryRepository(p.sql), embedder, p.warmCall, searched("memories"));
  // A recall or promotion that fails never fails a turn; the log says why.
  const longTerm = new LongTermMemory(
    memories,
    {
      onFailure: (stage, err) =>
        logger.warn("long-term memory failed; the turn went on", { stage, error: errorName(err) }),
      onPromoted: (seconds) => instruments.memoryExtractionDuration.record(seconds),
      onRecall: (result) => instruments.memoryRecalls.add(1, { result }),
    },
    {
      // A promotion's writes count against the tenant's operations quota like the API's writes.
      admit: (tenant, operations) =>
        p.tenantPolicies.admitCall(tenant, { operation: "memory_promotion", namespace: "memories", operations }),
    },
  );
  return {
    services: {
      agents: new AgentService(p.state, definitions, models, instruments, text, longTerm),
      agentInsights: insights,
      memories,
      langgraphStore: new StoreService(p.state, new StoreRepository(p.sql), embedder, p.warmCall, searched("store")),
      forgetting: new UserForgetting({
        ...{ state: p.state, repository: new ForgetRepository(p.sql), archive: p.archive },
        onForgetting: (tenant, userId) => longTerm.fence(tenant, userId),
        onForgotten: (tenant, userId) => memories.forgetCached(tenant, userId),
        replays: p.replays,
      }),
    },
    close: () => text.close(),
  };
}
