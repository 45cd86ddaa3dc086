// The namespaces agents own: tenants' agent definitions, conversation sessions and their profile vectors.
import { CACHED_VECTORS, definePolicy, KiB, MiB, namespaceOwner } from "../state/namespaces";

const AGENTS = namespaceOwner("agents", "agents:invoke", "/api/v1/agents/{agent}/sessions (scope agents:invoke)");

/** The most turns and bytes a session's window may keep; an agent's memory policy chooses within them. */
export const MAX_WINDOW_TURNS = 50;
export const MAX_WINDOW_BYTES = 256 * KiB;

export const AGENT_DEFINITIONS_NAMESPACE = "agents";

export const AGENT_DEFINITIONS_POLICY = definePolicy({
  name: AGENT_DEFINITIONS_NAMESPACE,
  kind: "system",
  durability: "durable",
  description:
    "Tenants' agent definitions: instructions, model, memory and session policy (server/agents/definitions.ts)",
  hotTtlSeconds: 3600,
  maxBytes: { warn: 32 * KiB, fail: 64 * KiB },
  owner: namespaceOwner("agents", "agents:manage", "/api/v1/agents/{name} (scope agents:manage)"),
});

export const SESSIONS_POLICY = definePolicy({
  name: "sessions",
  kind: "session",
  durability: "durable",
  description: "Conversation memory: recent turns, a summary of older ones, entities and intent",
  idleTtlSeconds: 30 * 60,
  hotTtlSeconds: 30 * 60,
  maxBytes: { warn: 256 * KiB, fail: 1 * MiB },
  windows: [
    {
      field: "turns",
      maxItems: MAX_WINDOW_TURNS,
      maxBytes: MAX_WINDOW_BYTES,
      summaryField: "summary",
      countField: "summarizedTurns",
      // Each session keeps its agent's window (memory.windowTurns, windowBytes, summaries) in `window`.
      perRecordField: "window",
    },
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

/** Responses of the OpenAI door, each with its input and the memory a `previous_response_id` continues from. */
export const RESPONSES_POLICY = definePolicy({
  ...SESSIONS_POLICY,
  name: "responses",
  description: "OpenAI-door responses: the response, its input, and the memory after it (for previous_response_id)",
  idleTtlSeconds: undefined,
  ttlSeconds: 30 * 24 * 3600,
  hotTtlSeconds: 3600,
  maxBytes: { warn: 512 * KiB, fail: 2 * MiB },
  onExpire: "delete",
});
