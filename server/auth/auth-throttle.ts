import { withTimeout } from "../state/timeout";
import { LRUCache } from "lru-cache";
import type { RedisClient } from "../state/redis";

export interface AuthThrottleOptions {
  /** Failed checks an address may make per window; the next attempts are refused until the window ends. */
  failures: number;
  windowMs: number;
  /** Shares counts with every instance on the same Redis (one command per failure, none per success). */
  redis?: { client: RedisClient; prefix: string; timeoutMs: number };
  /** Addresses remembered in this process (least recently failing forgotten first). */
  maxAddresses?: number;
  now?: () => number;
}

interface Entry {
  /** When this address's current window began: at its first failure (no shared boundary to time attacks by). */
  start: number;
  count: number;
  blockedUntil: number;
}

// KEYS[1] the address's counter; ARGV[1] the window in ms, which starts at the first failure (the key
// expires with it). Returns the count and the ms left in the window. One round trip per failure.
const COUNT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('PTTL', KEYS[1])}
`;

/**
 * Failed authentications (bad API keys, bad dashboard logins) counted per client address, in a
 * window that starts at the address's first failure. Only failures are counted and nothing here is consulted for a key
 * that checks out, so a
 * busy address's valid keys are never refused for its failures (server/http/auth-failures.ts decides
 * what a blocked address may still try). The cost per failure is bounded: one entry in an LRU of
 * addresses and, with Redis, one INCR on a key that expires with its window. While an address is
 * blocked its failures touch neither (blockedFor answers from memory).
 */
export class AuthThrottle {
  private readonly entries: LRUCache<string, Entry>;
  private readonly now: () => number;
  /** The end of the latest block: before it nothing is blocked, and callers need not even resolve an address. */
  private latestBlock = 0;

  constructor(private readonly options: AuthThrottleOptions) {
    this.now = options.now ?? Date.now;
    this.entries = new LRUCache({ max: options.maxAddresses ?? 100_000, ttl: options.windowMs, ttlAutopurge: false });
    const client = options.redis?.client as (RedisClient & Record<string, unknown>) | undefined;
    if (client && !("statehouseAuthFail" in client))
      client.defineCommand("statehouseAuthFail", { numberOfKeys: 1, lua: COUNT });
  }

  get failures(): number {
    return this.options.failures;
  }

  /** Whether any address is blocked now (one clock read): the hot path's only cost while nobody is. */
  anyBlocked(): boolean {
    return this.latestBlock > this.now();
  }

  /** Seconds until `address` may have keys checked again; 0 when it may now. Memory only: no I/O. */
  blockedFor(address: string): number {
    if (!this.anyBlocked()) return 0;
    const e = this.entries.get(address);
    const now = this.now();
    return e && e.blockedUntil > now ? Math.max(1, Math.ceil((e.blockedUntil - now) / 1000)) : 0;
  }

  /**
   * Records one failed check from `address`. Returns the seconds to refuse this attempt for (it was
   * over the limit: answer 429), or 0 (answer 401 as usual). The failure that reaches the limit is
   * still answered 401; the ones after it are refused until the window ends.
   */
  async fail(address: string): Promise<number> {
    const now = this.now();
    const windowMs = this.options.windowMs;
    let e = this.entries.get(address);
    if (!e || now >= e.start + windowMs) e = { start: now, count: 0, blockedUntil: e?.blockedUntil ?? 0 };
    e.count++;
    this.entries.set(address, e);
    if (e.blockedUntil > now) return this.blockedFor(address);
    let count = e.count;
    let windowEnd = e.start + windowMs;
    const shared = this.options.redis;
    if (shared) {
      try {
        const [n, ttl] = await this.countShared(shared, `${shared.prefix}authfail:${address}`);
        if (n > count) [count, windowEnd] = [n, now + Math.max(ttl, 1000)];
      } catch {
        // Redis cannot answer: this process's own count still throttles (per instance, as without Redis).
      }
    }
    if (count >= this.options.failures) {
      e.blockedUntil = Math.max(e.blockedUntil, windowEnd);
      this.latestBlock = Math.max(this.latestBlock, e.blockedUntil);
      this.entries.set(address, e);
    }
    return count > this.options.failures ? this.blockedFor(address) : 0;
  }

  private async countShared(shared: NonNullable<AuthThrottleOptions["redis"]>, key: string): Promise<[number, number]> {
    const run = (shared.client as unknown as { statehouseAuthFail(k: string, ms: number): Promise<[number, number]> })
      .statehouseAuthFail;
    const [n, ttl] = await withTimeout(run.call(shared.client, key, this.options.windowMs), shared.timeoutMs);
    return [Number(n), Number(ttl)];
  }
}
