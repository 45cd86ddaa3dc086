// The namespace long-term memories live in: one record per memory, written only by the memory service.
import { definePolicy, KiB, namespaceOwner } from "../state/namespaces";

export const MEMORIES_NAMESPACE = "memories";

export const MEMORIES_POLICY = definePolicy({
  name: MEMORIES_NAMESPACE,
  kind: "model",
  durability: "durable",
  description: "Long-term memories of tenants' users: text, kind, source, an embedding; searchable (server/memories/)",
  hotTtlSeconds: 3600,
  maxBytes: { warn: 16 * KiB, fail: 64 * KiB },
  // A memory is told once and may be recalled months later: nothing is buffered that search could not see.
  whenWarmDown: "reject",
  onExpire: "delete",
  owner: namespaceOwner("memories", "memories:read", "/api/v1/memories (scopes memories:read, memories:write)"),
});
