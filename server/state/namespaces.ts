import type { Scope } from "../auth/api-keys";
import { StateError } from "./errors";
import { validateNamespaceName } from "./store";
import type { Durability } from "./tiered";

/** The four kinds of state agents keep (design: State model), plus general-purpose key/value. */
export type NamespaceKind = "session" | "process" | "model" | "system" | "general";

/** A list field kept as a rolling window: the newest items by count and total bytes. */
export interface WindowPolicy {
  field: string;
  maxItems: number;
  maxBytes?: number;
  /** Field that keeps a compact summary of the items that fell out of the window. */
  summaryField?: string;
  /** Field that counts the items that fell out of the window. */
  countField?: string;
  /**
   * Field in which a record may narrow its own window: `{maxItems?, maxBytes?, summarize?}`, within this
   * policy's limits (`summarize: false` drops what falls out instead of folding it into the summary).
   */
  perRecordField?: string;
}

/**
 * A namespace a domain writes (agent sessions, workflow runs, LangGraph checkpoints): only the domain's
 * services write it, so its records can be trusted by the code that reads them (a worker runs what a
 * run record says). The generic state API never writes it, and reads it only for keys that also carry
 * `readScope` (server/http/namespace-access.ts).
 */
export interface NamespaceOwner {
  readonly domain: string;
  /** Needed, beside `state:read`, to read the namespace through the state API. */
  readonly readScope: Scope;
  /** Where to go instead, for error messages and the namespace listing (routes or the library that writes it). */
  readonly use: string;
}

/** A domain's claim on the namespaces it declares: `owner("agents", "agents:invoke", "/api/v1/agents/…")`. */
export function namespaceOwner(domain: string, readScope: Scope, use: string): NamespaceOwner {
  return { domain, readScope, use };
}

/** Upgrades a value stored at schema version `from` to `from + 1`. */
export type Upgrader = (value: unknown) => unknown;

export interface NamespacePolicy {
  readonly name: string;
  readonly kind: NamespaceKind;
  readonly description: string;
  /** durable: warm is the source of truth, hot a cache. ephemeral: hot tier only. */
  readonly durability: Durability;
  /** Sliding expiry refreshed on every access. */
  readonly idleTtlSeconds?: number;
  /**
   * Live records the sweeper moves to the archive (value and history; warm keeps the version) once not
   * written for `idleSeconds`, if `when` says so (e.g. finished workflow runs). A read restores them.
   */
  readonly archiveAfter?: { readonly idleSeconds: number; readonly when?: (value: unknown) => boolean };
  /** What the lifecycle sweeper does with an expired record: drop it, or move it (with its history) to the archive first. */
  readonly onExpire: "delete" | "archive";
  /** Default absolute expiry of a write that names none. */
  readonly ttlSeconds?: number;
  /** How long a copy promoted from warm stays in the hot tier. */
  readonly hotTtlSeconds?: number;
  /** Over `warn` a write succeeds with a warning; over `fail` it is refused (413) and nothing changes. */
  readonly maxBytes: { readonly warn: number; readonly fail: number };
  readonly windows: readonly WindowPolicy[];
  readonly schemaVersion: number;
  /** upgraders[n] turns a version-n value into version n+1; applied on read. */
  readonly upgraders: Readonly<Record<number, Upgrader>>;
  /** Reads that upgrade a record also write the upgraded value back (compare-and-set on its version). */
  readonly writeBackUpgrades?: boolean;
  readonly consistency: "eventual" | "strong";
  /** Writes must carry If-Match or If-None-Match (428 otherwise). */
  readonly requirePrecondition: boolean;
  /** When warm is down: reject durable writes (503) or buffer them in hot and answer 202. */
  readonly whenWarmDown: "reject" | "buffer";
  /** Total bytes the namespace may grow to (all tenants); alerts project growth against it. */
  readonly storageQuotaBytes?: number;
  /** false: writes keep no version history (records written once, such as LangGraph checkpoints). */
  readonly keepHistory?: boolean;
  /** Used by Statehouse itself (e.g. idempotency records); not reachable through the state API. */
  readonly internal?: boolean;
  /** Written by a domain only (built-in namespaces; see NamespaceOwner). Absent: open to the state API. */
  readonly owner?: NamespaceOwner;
}

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** Vectors kept a month and served hot-first: embeddings and agents' profile vectors. */
export const CACHED_VECTORS = {
  kind: "model",
  durability: "durable",
  ttlSeconds: 30 * 24 * 3600,
  hotTtlSeconds: 24 * 3600,
  maxBytes: { warn: 256 * KiB, fail: 2 * MiB },
} as const;

type PolicyInput = Pick<NamespacePolicy, "name" | "kind" | "description" | "durability"> & Partial<NamespacePolicy>;

/** Fills in the defaults every namespace shares. */
export function definePolicy(input: PolicyInput): NamespacePolicy {
  validateNamespaceName(input.name);
  const policy: NamespacePolicy = {
    maxBytes: { warn: 1 * MiB, fail: 4 * MiB },
    storageQuotaBytes: 10 * 1024 * MiB,
    windows: [],
    schemaVersion: 1,
    upgraders: {},
    consistency: "eventual",
    requirePrecondition: false,
    whenWarmDown: "reject",
    onExpire: "delete",
    ...input,
  };
  if (policy.maxBytes.warn > policy.maxBytes.fail)
    throw new Error(`namespace ${policy.name}: maxBytes.warn exceeds maxBytes.fail`);
  if (!Number.isSafeInteger(policy.schemaVersion) || policy.schemaVersion < 1)
    throw new Error(`namespace ${policy.name}: schemaVersion must be a positive integer`);
  for (let v = 1; v < policy.schemaVersion; v++) {
    if (typeof policy.upgraders[v] !== "function")
      throw new Error(`namespace ${policy.name}: no upgrader from schema version ${v}`);
  }
  return Object.freeze(policy);
}

/**
 * The engine's general-purpose namespaces. The domains declare their own (server/agents/namespaces.ts,
 * server/workflows/namespace.ts, server/langgraph/namespaces.ts); server/namespaces.ts lists them all.
 */
export const GENERAL_NAMESPACES: readonly NamespacePolicy[] = [
  definePolicy({
    name: "jobs",
    kind: "process",
    durability: "durable",
    description: "Long-running jobs' progress",
    maxBytes: { warn: 1 * MiB, fail: 4 * MiB },
  }),
  definePolicy({
    name: "embeddings",
    ...CACHED_VECTORS,
    description: "Cached vectors; served hot-first",
  }),
  definePolicy({
    name: "features",
    kind: "model",
    durability: "durable",
    description: "User and entity profiles for models",
    hotTtlSeconds: 24 * 3600,
  }),
  definePolicy({
    name: "kv",
    kind: "general",
    durability: "durable",
    description: "General-purpose durable key/value state",
  }),
  definePolicy({
    name: "ratelimits",
    kind: "system",
    durability: "ephemeral",
    description: "Rate limiter buckets (hot tier only)",
    ttlSeconds: 60,
    maxBytes: { warn: 1 * KiB, fail: 16 * KiB },
  }),
  definePolicy({
    name: "quotas",
    kind: "system",
    durability: "ephemeral",
    description: "Usage quotas (hot tier only)",
    ttlSeconds: 24 * 3600,
    maxBytes: { warn: 4 * KiB, fail: 64 * KiB },
  }),
  definePolicy({
    name: "idempotency",
    kind: "system",
    durability: "ephemeral",
    internal: true,
    description: "Answers remembered for Idempotency-Key replays (24 h)",
    ttlSeconds: 24 * 3600,
    maxBytes: { warn: 1 * MiB, fail: 8 * MiB },
  }),
  definePolicy({
    name: "breakers",
    kind: "system",
    durability: "ephemeral",
    description: "Shared circuit-breaker state (hot tier only)",
    ttlSeconds: 300,
    maxBytes: { warn: 4 * KiB, fail: 64 * KiB },
  }),
];

/** The declared namespaces. Built once in the container; state outside them is refused. */
export class NamespaceRegistry {
  private readonly policies = new Map<string, NamespacePolicy>();

  constructor(policies: readonly NamespacePolicy[]) {
    for (const p of policies) this.register(p);
  }

  register(policy: NamespacePolicy): void {
    if (this.policies.has(policy.name)) throw new Error(`namespace ${policy.name} is declared twice`);
    this.policies.set(policy.name, policy);
  }

  /** The policy, or `unknown_namespace`. */
  getOrThrow(name: string): NamespacePolicy {
    const p = this.policies.get(name);
    if (!p)
      throw new StateError("unknown_namespace", `no namespace named ${JSON.stringify(String(name).slice(0, 64))}`, {
        namespace: String(name).slice(0, 64),
      });
    return p;
  }

  has(name: string): boolean {
    return this.policies.has(name);
  }

  list(): NamespacePolicy[] {
    return [...this.policies.values()];
  }

  durabilityOf = (name: string): Durability => this.getOrThrow(name).durability;

  whenWarmDownOf = (name: string): "reject" | "buffer" => this.getOrThrow(name).whenWarmDown;

  hotTtlMsOf = (name: string): number | undefined => {
    const s = this.policies.get(name)?.hotTtlSeconds;
    return s === undefined ? undefined : s * 1000;
  };
}
