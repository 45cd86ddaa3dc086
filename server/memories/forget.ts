import { AGENT_PROFILES_POLICY, RESPONSES_POLICY, SESSIONS_POLICY } from "../agents/namespaces";
import { STORE_NAMESPACE } from "../langgraph/namespaces";
import type { StateService } from "../state/service";
import type { ArchiveStore } from "../state/archive";
import type { StateRef } from "../state/store";
import type { FoundKey, ForgetRepository } from "./forget-repository";
import { USER_ID } from "./memories";
import { MEMORIES_NAMESPACE } from "./namespaces";
import { InvalidError, isStateError, StateError } from "../state/errors";

/** Namespaces whose records belong to one end user and say so in their value. */
const USER_RECORDS = [MEMORIES_NAMESPACE, SESSIONS_POLICY.name, RESPONSES_POLICY.name] as const;
const ERASE_CONCURRENCY = 8;

/** What forgetting a user removed, per kind (for the log and the tests; the API answers 204). */
export interface Forgotten {
  memories: number;
  sessions: number;
  responses: number;
  profiles: number;
  storeItems: number;
  replays: number;
}

export interface ForgetParts {
  state: StateService;
  repository: ForgetRepository;
  /** The archive's index of whose archived records are (ArchiveOptions.subjectOf = endUserOf). */
  archive?: Pick<ArchiveStore, "keysOf">;
  /** Idempotency replays live in the hot tier only; their owner finds those that mention the user. */
  replays: { forgetMentioning(tenant: string, userId: string): Promise<number> };
  /** Told before anything is looked for: background writes of the user's earlier turns stop (promotions). */
  onForgetting?(tenant: string, userId: string): void;
  /** Told once the user's records are erased, to drop what the process holds of them (cached vectors). */
  onForgotten?(tenant: string, userId: string): void;
}

/**
 * Forgetting an end user: every record of the tenant that is theirs is erased from every tier (value,
 * history, archive copy, hot copy; outbox events redacted): their memories, their sessions and agent
 * conversations (`userId`, or `metadata.user_id`) with each one's profile vector, their OpenAI-door
 * responses, the LangGraph Store items under a namespace path holding their id, and the idempotency
 * replays whose answer mentions them. One forget per tenant at a time in a process: it reads the archive
 * key by key, and a second one for the same tenant would only repeat that work.
 */
export class UserForgetting {
  private readonly running = new Map<string, Promise<unknown>>();

  constructor(private readonly parts: ForgetParts) {}

  async forget(tenant: string, userId: string): Promise<Forgotten> {
    if (!USER_ID.test(userId)) throw new InvalidError("not a user id", { field: "userId" });
    const previous = this.running.get(tenant) ?? Promise.resolve();
    const run = previous.then(
      () => this.run(tenant, userId),
      () => this.run(tenant, userId),
    );
    const tail = run.catch(() => {});
    this.running.set(tenant, tail);
    void tail.then(() => {
      if (this.running.get(tenant) === tail) this.running.delete(tenant);
    });
    return run;
  }

  private async run(tenant: string, userId: string): Promise<Forgotten> {
    const { repository } = this.parts;
    this.parts.onForgetting?.(tenant, userId);
    const found = await scan(() => repository.memoriesOf(tenant, userId));
    for (const namespace of [SESSIONS_POLICY.name, RESPONSES_POLICY.name])
      found.push(...(await scan(() => repository.namingUser(tenant, userId, namespace))));
    found.push(...(await this.archivedNamingUser(tenant, userId)));
    const of = (namespace: string) => found.filter((f) => f.namespace === namespace);
    const sessions = of(SESSIONS_POLICY.name);
    const profiles = sessions.flatMap((s) =>
      s.agent ? [{ namespace: AGENT_PROFILES_POLICY.name, key: `profile:${s.agent}:${s.key}` }] : [],
    );
    const conversations = sessions.map((s) => s.key);
    const inConversations = (
      await scan(() => repository.inConversations(tenant, RESPONSES_POLICY.name, conversations))
    ).map((key) => ({ namespace: RESPONSES_POLICY.name, key }));
    const storeKeys = (await scan(() => repository.keysContaining(tenant, STORE_NAMESPACE, JSON.stringify(userId))))
      .filter((key) => storePathHolds(key, userId))
      .map((key) => ({ namespace: STORE_NAMESPACE, key }));

    const erased = await this.eraseAll(tenant, [...found, ...profiles, ...inConversations, ...storeKeys]);
    this.parts.onForgotten?.(tenant, userId);
    const count = (namespace: string) => erased.filter((r) => r.namespace === namespace).length;
    // Last: the replay of a request made while this ran is caught too.
    const replays = await this.parts.replays.forgetMentioning(tenant, userId);
    return {
      memories: count(MEMORIES_NAMESPACE),
      sessions: count(SESSIONS_POLICY.name),
      responses: count(RESPONSES_POLICY.name),
      profiles: count(AGENT_PROFILES_POLICY.name),
      storeItems: count(STORE_NAMESPACE),
      replays,
    };
  }

  /**
   * The user's records in the archive (found through its subject markers): sessions that expired there
   * and whose tombstone in warm has since been purged are nowhere else.
   */
  private async archivedNamingUser(tenant: string, userId: string): Promise<FoundKey[]> {
    const { archive } = this.parts;
    if (!archive) return [];
    const found: FoundKey[] = [];
    for (const namespace of USER_RECORDS) {
      for (const { key, value } of await scan(() => archive.keysOf(tenant, namespace, userId))) {
        const agent = (value as { agent?: unknown } | null)?.agent;
        found.push({ namespace, key, agent: typeof agent === "string" ? agent : null });
      }
    }
    return found;
  }

  /** Erases every ref (several at a time); answers those that held something. */
  private async eraseAll(tenant: string, refs: readonly Omit<StateRef, "tenant">[]) {
    const erased: Omit<StateRef, "tenant">[] = [];
    const unique = [...new Map(refs.map((r) => [`${r.namespace}\u0000${r.key}`, r])).values()];
    await eachLimited(unique, ERASE_CONCURRENCY, async (r) => {
      if ((await this.parts.state.erase({ tenant, ...r })).erased) erased.push(r);
    });
    return erased;
  }
}

/**
 * The end user a record of `namespace` belongs to, by the same fields the repository's SQL reads: the
 * archive's subject (ArchiveOptions.subjectOf), so archived records of a user can be found.
 */
export function endUserOf(namespace: string, value: unknown): string | undefined {
  if (!(USER_RECORDS as readonly string[]).includes(namespace) || typeof value !== "object" || value === null)
    return undefined;
  const v = value as {
    userId?: unknown;
    metadata?: { user_id?: unknown };
    response?: { metadata?: { user_id?: unknown } };
  };
  const user = v.userId ?? v.metadata?.user_id ?? v.response?.metadata?.user_id;
  return typeof user === "string" ? user : undefined;
}

/** A Store item's key is the JSON of its namespace path and key: the user must be one of the path's labels. */
function storePathHolds(recordKey: string, userId: string): boolean {
  try {
    const path = JSON.parse(recordKey) as unknown;
    return Array.isArray(path) && path.slice(0, -1).includes(userId);
  } catch {
    return false;
  }
}

/**
 * Forget's scans run outside the tiers' per-call timeout and breaker: they read a tenant's sessions or
 * a user's archive markers, which may take longer than any single state call should, and a slow forget
 * must not open a breaker for every tenant. A failure is still a 503.
 */
async function scan<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isStateError(err)) throw err;
    throw new StateError("unavailable", "forgetting the user could not read what it must erase; try again");
  }
}

async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
