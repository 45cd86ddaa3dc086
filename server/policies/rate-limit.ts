import type { RedisClient } from "../state/redis";

export interface RateDecision {
  allowed: boolean;
  /** Tokens left after this request. */
  remaining: number;
  /** When not allowed: how long until one token is back. */
  retryAfterMs: number;
}

/** A token bucket per API key: `ratePerSecond` tokens refill continuously up to `burst`. */
export interface RateLimiter {
  readonly ratePerSecond: number;
  readonly burst: number;
  take(id: string): Promise<RateDecision>;
}

// KEYS[1] bucket; ARGV: rate/s, burst, now ms, tokens wanted (a lease, >= 1). One atomic command.
// Takes as many of the wanted tokens as the bucket holds (at least one to allow the request).
const TAKE = `
local b = redis.call('HMGET', KEYS[1], 't', 'ts')
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local want = tonumber(ARGV[4]) or 1
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local taken = math.min(want, math.floor(tokens))
if taken < 0 then taken = 0 end
tokens = tokens - taken
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
local wait = 0
if taken == 0 then wait = math.ceil((1 - tokens) * 1000 / rate) end
return {taken, math.floor(tokens), wait}
`;

/** How long leased tokens may be spent locally before they lapse (unspent ones are not returned). */
const LEASE_MS = 100;

/**
 * Buckets in Redis, shared by every instance. A request takes one token; under load an instance takes
 * a small lease (1/32 of the burst, at most 32 tokens, spent within 100 ms) in the same command, so a
 * busy key costs one Redis round trip per lease instead of one per request. Measured (bench: HTTP state
 * GET) the per-request command was as costly as the state read itself. The limit stays exact on the
 * high side (every admitted request spent a token Redis granted); leased tokens left unspent when the
 * lease lapses are lost, so a key may get up to one lease fewer per instance. Bursts under 64 lease nothing.
 */
export class RedisRateLimiter implements RateLimiter {
  private readonly leases = new Map<string, { tokens: number; until: number; remaining: number; deniedFor: number }>();
  private readonly leaseSize: number;
  private readonly refills = new Map<string, Promise<RateDecision>>();

  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
    readonly ratePerSecond: number,
    readonly burst: number,
  ) {
    if (!("statehouseRateTake2" in client)) client.defineCommand("statehouseRateTake2", { numberOfKeys: 1, lua: TAKE });
    this.leaseSize = Math.max(1, Math.min(32, Math.floor(burst / 32)));
  }

  async take(id: string): Promise<RateDecision> {
    for (;;) {
      const lease = this.leases.get(id);
      const now = Date.now();
      if (lease && now < lease.until) {
        if (lease.tokens > 0) {
          lease.tokens--;
          return { allowed: true, remaining: lease.remaining, retryAfterMs: 0 };
        }
        // Redis just said the bucket is empty: no point asking again before a token can be back.
        if (lease.deniedFor > 0) return { allowed: false, remaining: 0, retryAfterMs: Math.max(1, lease.until - now) };
      }
      // One refill per key at a time: concurrent requests wait for it and spend its lease, rather than
      // each taking a lease of its own (which would drain the shared bucket faster than it is used).
      const inflight = this.refills.get(id);
      if (!inflight) break;
      await inflight.catch(() => {});
    }
    const refill = this.refill(id);
    this.refills.set(id, refill);
    try {
      return await refill;
    } finally {
      this.refills.delete(id);
    }
  }

  private async refill(id: string): Promise<RateDecision> {
    const now = Date.now();
    const run = (this.client as unknown as { statehouseRateTake2(k: string, ...a: number[]): Promise<[number, number, number]> }).statehouseRateTake2;
    const [taken, remaining, wait] = await run.call(this.client, `${this.prefix}rl:{${id}}`, this.ratePerSecond, this.burst, now, this.leaseSize);
    if (taken > 1 || (taken === 0 && this.leaseSize > 1)) {
      this.leases.set(id, taken > 1 ? { tokens: taken - 1, until: now + LEASE_MS, remaining, deniedFor: 0 } : { tokens: 0, until: now + Math.min(wait, LEASE_MS), remaining, deniedFor: wait });
      if (this.leases.size > 10_000) this.leases.delete(this.leases.keys().next().value!);
    } else {
      this.leases.delete(id);
    }
    return { allowed: taken >= 1, remaining, retryAfterMs: wait };
  }
}

/** Buckets in this process, for the embedded single-instance default. */
export class MemoryRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; ts: number }>();

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {}

  async take(id: string): Promise<RateDecision> {
    const now = this.now();
    const b = this.buckets.get(id) ?? { tokens: this.burst, ts: now };
    b.tokens = Math.min(this.burst, b.tokens + Math.max(0, now - b.ts) * (this.ratePerSecond / 1000));
    b.ts = now;
    const allowed = b.tokens >= 1;
    if (allowed) b.tokens -= 1;
    this.buckets.set(id, b);
    if (this.buckets.size > 100_000) this.buckets.delete(this.buckets.keys().next().value!);
    return { allowed, remaining: Math.floor(b.tokens), retryAfterMs: allowed ? 0 : Math.ceil(((1 - b.tokens) * 1000) / this.ratePerSecond) };
  }
}
