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

// KEYS[1] bucket; ARGV: rate/s, burst, now ms. One atomic command per request.
const TAKE = `
local b = redis.call('HMGET', KEYS[1], 't', 'ts')
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
local wait = 0
if allowed == 0 then wait = math.ceil((1 - tokens) * 1000 / rate) end
return {allowed, math.floor(tokens), wait}
`;

/** Buckets in Redis, shared by every instance. */
export class RedisRateLimiter implements RateLimiter {
  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
    readonly ratePerSecond: number,
    readonly burst: number,
  ) {
    if (!("statehouseRateTake" in client)) client.defineCommand("statehouseRateTake", { numberOfKeys: 1, lua: TAKE });
  }

  async take(id: string): Promise<RateDecision> {
    const run = (this.client as unknown as { statehouseRateTake(k: string, ...a: number[]): Promise<[number, number, number]> }).statehouseRateTake;
    const [allowed, remaining, wait] = await run.call(this.client, `${this.prefix}rl:{${id}}`, this.ratePerSecond, this.burst, Date.now());
    return { allowed: allowed === 1, remaining, retryAfterMs: wait };
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
