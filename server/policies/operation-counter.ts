// Daily operation counters per tenant (hot tier, or this process): the operations quota's arithmetic.
import type { RedisClient } from "../state/redis";

/** Counts a tenant's operations per UTC day; refuses (without counting) a batch that would pass the limit. */
export interface OperationCounter {
  admit(
    tenant: string,
    day: string,
    operations: number,
    limit: number | null,
  ): Promise<{ allowed: boolean; used: number }>;
  /** Adds counts with no limit to check (tenants without an operations quota, flushed in bulk). */
  add(counts: readonly { tenant: string; day: string; operations: number }[]): Promise<void>;
  used(tenant: string, day: string): Promise<number>;
}

// KEYS[1] the tenant's counter for the day; ARGV: operations, limit (-1 = none), expiry seconds.
// Check and increment in one atomic command: concurrent callers can never push the count past the limit.
const ADMIT = `
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local n = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
if limit >= 0 and used + n > limit then return {0, used} end
used = redis.call('INCRBY', KEYS[1], n)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return {1, used}
`;

/** Daily counters in Redis (hot tier, system state), shared by every instance. */
export class RedisOperationCounter implements OperationCounter {
  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
  ) {
    if (!("statehouseQuotaAdmit" in client))
      client.defineCommand("statehouseQuotaAdmit", { numberOfKeys: 1, lua: ADMIT });
  }

  private key(tenant: string, day: string): string {
    return `${this.prefix}quota:ops:{${tenant}}:${day}`;
  }

  async admit(tenant: string, day: string, operations: number, limit: number | null) {
    const run = (
      this.client as unknown as { statehouseQuotaAdmit(k: string, ...a: number[]): Promise<[number, number]> }
    ).statehouseQuotaAdmit;
    const [allowed, used] = await run.call(this.client, this.key(tenant, day), operations, limit ?? -1, 2 * 24 * 3600);
    return { allowed: allowed === 1, used: Number(used) };
  }

  async add(counts: readonly { tenant: string; day: string; operations: number }[]): Promise<void> {
    if (counts.length === 0) return;
    const ttl = 2 * 24 * 3600;
    // One round trip per flush; per tenant (its own hash slot on a cluster), so no cross-slot transaction.
    await Promise.all(
      counts.map((c) =>
        this.client
          .multi()
          .incrby(this.key(c.tenant, c.day), c.operations)
          .expire(this.key(c.tenant, c.day), ttl)
          .exec(),
      ),
    );
  }

  async used(tenant: string, day: string): Promise<number> {
    return Number((await this.client.get(this.key(tenant, day))) ?? 0);
  }
}

/** Daily counters in this process, for the embedded single-instance default. */
export class MemoryOperationCounter implements OperationCounter {
  private readonly counts = new Map<string, number>();

  async admit(tenant: string, day: string, operations: number, limit: number | null) {
    const k = `${tenant}\n${day}`;
    const used = this.counts.get(k) ?? 0;
    if (limit !== null && used + operations > limit) return { allowed: false, used };
    // Only today's counters matter: drop other days' as the day rolls over.
    for (const old of this.counts.keys()) if (!old.endsWith(`\n${day}`)) this.counts.delete(old);
    this.counts.set(k, used + operations);
    return { allowed: true, used: used + operations };
  }

  async add(counts: readonly { tenant: string; day: string; operations: number }[]): Promise<void> {
    for (const c of counts) await this.admit(c.tenant, c.day, c.operations, null);
  }

  async used(tenant: string, day: string): Promise<number> {
    return this.counts.get(`${tenant}\n${day}`) ?? 0;
  }
}

/** The UTC day a counter belongs to. */
export function dayOf(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/** When the counter of `d`'s day stops counting: the next UTC midnight. */
export function nextDay(d: Date): Date {
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1));
}
