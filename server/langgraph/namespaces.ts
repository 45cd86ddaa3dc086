// The namespaces the LangGraph checkpointer owns: checkpoints and each thread's newest one.
import { definePolicy, KiB, MiB, namespaceOwner } from "../state/namespaces";

const CHECKPOINTER = namespaceOwner(
  "checkpointer",
  "checkpoints:read",
  "the LangGraph checkpointer, StatehouseSaver (server/langgraph/checkpointer.ts)",
);

export const CHECKPOINTS_POLICY = definePolicy({
  name: "checkpoints",
  kind: "process",
  durability: "durable",
  description: "LangGraph checkpoints, channel values and pending writes (server/langgraph/checkpointer.ts)",
  hotTtlSeconds: 3600,
  keepHistory: false,
  maxBytes: { warn: 2 * MiB, fail: 8 * MiB },
  owner: CHECKPOINTER,
});

export const CHECKPOINT_HEADS_POLICY = definePolicy({
  name: "checkpoint-heads",
  kind: "system",
  durability: "ephemeral",
  description: "The newest LangGraph checkpoint per thread (hot tier only; rebuilt from checkpoints when lost)",
  ttlSeconds: 7 * 24 * 3600,
  maxBytes: { warn: 1 * KiB, fail: 16 * KiB },
  owner: CHECKPOINTER,
});

export const STORE_NAMESPACE = "store";

/** LangGraph's long-term store (the Store API at /api/langgraph): items per namespace path and key, searchable. */
export const STORE_POLICY = definePolicy({
  name: STORE_NAMESPACE,
  kind: "model",
  durability: "durable",
  description:
    "LangGraph Store API items: a namespace path, a key, a JSON value, searchable (server/langgraph/store.ts)",
  hotTtlSeconds: 3600,
  maxBytes: { warn: 64 * KiB, fail: 1 * MiB },
  whenWarmDown: "reject",
  onExpire: "delete",
  owner: namespaceOwner("store", "memories:read", "/api/langgraph/store (scopes memories:read, memories:write)"),
});
