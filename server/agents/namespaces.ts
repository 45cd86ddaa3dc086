// The namespaces agents own: conversation sessions and their profile vectors.
import { definePolicy, KiB, MiB, type NamespaceOwner } from "../state/namespaces";

const AGENTS: NamespaceOwner = {
  domain: "agents",
  readScope: "agents:invoke",
  use: "/api/v1/agents/{agent}/sessions (scope agents:invoke)",
};

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
  kind: "model",
  durability: "durable",
  description: "Agents' per-session profile vectors (server/agents/profiles.ts); served hot-first",
  ttlSeconds: 30 * 24 * 3600,
  hotTtlSeconds: 24 * 3600,
  maxBytes: { warn: 256 * KiB, fail: 2 * MiB },
  owner: AGENTS,
});
