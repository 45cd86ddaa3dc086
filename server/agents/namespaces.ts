// The namespaces agents own: conversation sessions and their profile vectors.
import { CACHED_VECTORS, definePolicy, KiB, MiB, namespaceOwner } from "../state/namespaces";

const AGENTS = namespaceOwner("agents", "agents:invoke", "/api/v1/agents/{agent}/sessions (scope agents:invoke)");

export const SESSIONS_POLICY = definePolicy({
  name: "sessions",
  kind: "session",
  durability: "durable",
  description: "Conversation memory: recent turns, a summary of older ones, entities and intent",
  idleTtlSeconds: 30 * 60,
  hotTtlSeconds: 30 * 60,
  maxBytes: { warn: 256 * KiB, fail: 1 * MiB },
  windows: [
    { field: "turns", maxItems: 10, maxBytes: 64 * KiB, summaryField: "summary", countField: "summarizedTurns" },
  ],
  whenWarmDown: "buffer",
  onExpire: "archive",
  owner: AGENTS,
});

export const AGENT_PROFILES_POLICY = definePolicy({
  name: "agent-profiles",
  ...CACHED_VECTORS,
  description: "Agents' per-session profile vectors (server/agents/profiles.ts); served hot-first",
  owner: AGENTS,
});
