// Tenant policies as each process sees them: a short cache, and the last known copy for warm-tier outages.
import { LRUCache } from "lru-cache";
import { InvalidError } from "../state/errors";
import { withTimeout } from "../state/timeout";
import type { PolicyRepository, TenantPolicy } from "./policy-repository";

/** How long a tenant's policy is cached per process (a change made here applies at once, elsewhere within this). */
export const POLICY_CACHE_MS = 5_000;
const TENANT = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const REGION = /^[a-z0-9][a-z0-9-]{0,31}$/;

export class PolicyCache {
  private readonly cache = new LRUCache<string, TenantPolicy>({ max: 10_000, ttl: POLICY_CACHE_MS });
  /**
   * Used while the warm tier cannot answer: the last policy read of every tenant that has one (all are
   * loaded at start and every minute), so pins and limits keep holding through an outage.
   */
  private readonly lastKnown = new LRUCache<string, TenantPolicy>({ max: 100_000 });
  private preloadTimer: NodeJS.Timeout | undefined;
  constructor(
    private readonly repository: Pick<PolicyRepository, "all" | "get" | "save">,
    /** Runs a warm-tier query with the store timeout, turning failures into `unavailable`. */
    private readonly guard: <T>(fn: () => Promise<T>) => Promise<T>,
    /** Told when this process changes a tenant's policy, so other instances can drop their cached copy. */
    private readonly onChange: (tenant: string) => void = () => {},
  ) {}

  /** Loads every policy now and every minute. */
  start(): void {
    void this.preload();
    this.preloadTimer = setInterval(() => void this.preload(), 60_000);
    this.preloadTimer.unref();
  }

  stop(): void {
    clearInterval(this.preloadTimer);
  }

  /** Remembers every tenant's policy for outages (a tenant not among them has none). */
  private async preload(): Promise<void> {
    try {
      // Off the request path, so not held to the store timeout (a busy start can take longer).
      for (const p of await withTimeout(this.repository.all(), 10_000)) this.lastKnown.set(p.tenant, p);
    } catch {
      // Not loaded (e.g. a slow start or the warm tier down): try again soon, not in a minute.
      if (this.preloadTimer) setTimeout(() => void this.preload(), 2000).unref();
    }
  }

  /** Drops the cached policy (another instance changed it). */
  forget(tenant: string): void {
    this.cache.delete(tenant);
  }

  /** The tenant's policy (cached for POLICY_CACHE_MS). Unknown tenants have no limits and no pin. */
  async get(tenant: string): Promise<TenantPolicy> {
    const cached = this.cache.get(tenant);
    if (cached) return cached;
    let policy: TenantPolicy;
    try {
      policy = (await this.guard(() => this.repository.get(tenant))) ?? unlimited(tenant);
    } catch {
      // Warm tier down: the policy as last loaded; a tenant without one then had none. Not cached, so
      // the next call asks the warm tier again.
      return this.lastKnown.get(tenant) ?? unlimited(tenant);
    }
    this.cache.set(tenant, policy);
    this.lastKnown.set(tenant, policy);
    return policy;
  }

  async list(): Promise<TenantPolicy[]> {
    return this.guard(() => this.repository.all());
  }

  /**
   * Sets some of a tenant's limits and pin (fields left out keep their value; null clears). Applies at
   * once in this process and within POLICY_CACHE_MS in others.
   */
  async set(
    tenant: string,
    change: Partial<Pick<TenantPolicy, "operationsPerDay" | "bytesStored" | "region">>,
  ): Promise<TenantPolicy> {
    if (!TENANT.test(tenant)) throw new InvalidError("tenant must match [a-z0-9][a-z0-9_-]{0,63}", { field: "tenant" });
    if (change.region !== undefined && change.region !== null && !REGION.test(change.region)) {
      throw new InvalidError("region must be lowercase letters, digits and '-', at most 32", { field: "region" });
    }
    // Updates start from the policy as stored now, not a cached copy.
    this.cache.delete(tenant);
    const current = await this.get(tenant);
    const next = { ...current, ...definedOnly(change) };
    const saved = await this.guard(() => this.repository.save(next));
    this.cache.set(tenant, saved);
    this.lastKnown.set(tenant, saved);
    this.onChange(tenant);
    return saved;
  }
}

function unlimited(tenant: string): TenantPolicy {
  return { tenant, operationsPerDay: null, bytesStored: null, region: null, updatedAt: null };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
