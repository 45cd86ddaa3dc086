import type { Config } from "../config";
import type { RedisClient } from "../state/redis";

/** A token bucket: `ratePerSecond` tokens refill continuously up to `burst`. */
export interface Bucket {
  readonly ratePerSecond: number;
  readonly burst: number;
}

/** Which of a request's two buckets binds: the API key's own, or the one every key of its tenant shares. */
export type BucketName = "key" | "tenant";

export interface RateDecision {
  allowed: boolean;
  /**
   * The bucket that binds: when allowed, the one with fewer whole tokens left (the tenant's on a tie);
   * when refused, the one that refused (the one that takes longer to refill when both did).
   */
  bucket: BucketName;
  /** That bucket's size (its burst): what `RateLimit-Limit` reports. */
  limit: number;
  /** Whole tokens left in that bucket after this request, 0..limit: what `RateLimit-Remaining` reports. */
  remaining: number;
  /** When not allowed: how long until the binding bucket holds a token again. */
  retryAfterMs: number;
}

/**
 * Rate limits per API key and per tenant: a request takes one token from its key's bucket and one from
 * its tenant's, and is allowed only when both have one (then both are taken; otherwise neither). So a
 * tenant that mints more keys gets no more rate than its tenant bucket.
 */
export interface RateLimiter {
  readonly key: Bucket;
  readonly tenant: Bucket;
  take(keyId: string, tenant: string): Promise<RateDecision>;
}

/** The answer when the limiter cannot be asked (its store is down): allowed, with full buckets reported. */
export function failOpen(limiter: RateLimiter): RateDecision {
  const bucket: BucketName = limiter.tenant.burst <= limiter.key.burst ? "tenant" : "key";
  const limit = limiter[bucket].burst;
  return { allowed: true, bucket, limit, remaining: limit, retryAfterMs: 0 };
}

/** The decision from both buckets' levels after the take (and, when refused, each one's wait). */
function decide(
  buckets: { key: Bucket; tenant: Bucket },
  allowed: boolean,
  left: Record<BucketName, number>,
  wait: Record<BucketName, number>,
): RateDecision {
  let bucket: BucketName;
  if (allowed) bucket = left.key < left.tenant ? "key" : "tenant";
  else bucket = wait.key > wait.tenant ? "key" : "tenant";
  const limit = buckets[bucket].burst;
  return {
    allowed,
    bucket,
    limit,
    remaining: Math.max(0, Math.min(limit, Math.floor(left[bucket]))),
    retryAfterMs: allowed ? 0 : Math.max(1, wait[bucket]),
  };
}

// KEYS[1] the key's bucket, KEYS[2] the tenant's (same hash tag: one slot in a cluster); ARGV: key rate/s,
// key burst, tenant rate/s, tenant burst, now ms, tokens wanted (a lease, >= 1). One atomic command.
// Takes from both buckets as many of the wanted tokens as both hold (at least one to allow the request).
const TAKE = `
local now = tonumber(ARGV[5])
local want = tonumber(ARGV[6]) or 1
local function level(k, rate, burst)
  local b = redis.call('HMGET', k, 't', 'ts')
  local tokens = tonumber(b[1]) or burst
  local ts = tonumber(b[2]) or now
  return math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
end
local kr, kb, tr, tb = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local kt = level(KEYS[1], kr, kb)
local tt = level(KEYS[2], tr, tb)
local taken = math.min(want, math.floor(kt), math.floor(tt))
if taken < 0 then taken = 0 end
kt = kt - taken
tt = tt - taken
redis.call('HSET', KEYS[1], 't', tostring(kt), 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(kb / kr * 1000) + 1000)
redis.call('HSET', KEYS[2], 't', tostring(tt), 'ts', now)
redis.call('PEXPIRE', KEYS[2], math.ceil(tb / tr * 1000) + 1000)
local kw, tw = 0, 0
if taken == 0 then
  if kt < 1 then kw = math.ceil((1 - kt) * 1000 / kr) end
  if tt < 1 then tw = math.ceil((1 - tt) * 1000 / tr) end
end
return {taken, math.floor(kt), math.floor(tt), kw, tw}
`;

/** How long leased tokens may be spent locally before they lapse (unspent ones are not returned). */
const LEASE_MS = 100;

/**
 * Buckets in Redis, shared by every instance. A request takes one token from its key's and its tenant's
 * bucket; under load an instance takes a small lease (1/32 of the smaller burst, at most 32 tokens,
 * spent within 100 ms) from both in the same command, so a busy key costs one Redis round trip per lease
 * instead of one per request. Measured (bench: HTTP state GET) the per-request command was as costly as
 * the state read itself. The limits stay exact on the high side (every admitted request spent a token of
 * each bucket that Redis granted); leased tokens left unspent when the lease lapses are lost, so a key
 * may get up to one lease fewer per instance. Bursts under 64 lease nothing.
 */
export class RedisRateLimiter implements RateLimiter {
  private readonly leases = new Map<string, { tokens: number; until: number; decision: RateDecision }>();
  private readonly leaseSize: number;
  private readonly refills = new Map<string, Promise<RateDecision>>();
  readonly key: Bucket;
  readonly tenant: Bucket;

  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
    buckets: { key: Bucket; tenant: Bucket },
  ) {
    this.key = buckets.key;
    this.tenant = buckets.tenant;
    if (!("statehouseRateTake3" in client)) client.defineCommand("statehouseRateTake3", { numberOfKeys: 2, lua: TAKE });
    this.leaseSize = Math.max(1, Math.min(32, Math.floor(Math.min(this.key.burst, this.tenant.burst) / 32)));
  }

  async take(keyId: string, tenant: string): Promise<RateDecision> {
    // A lease holds tokens of this key's bucket, so it is the key's (its tenant never changes).
    for (;;) {
      const lease = this.leases.get(keyId);
      const now = Date.now();
      if (lease && now < lease.until) {
        if (lease.tokens > 0) {
          lease.tokens--;
          return lease.decision;
        }
        // Redis just said a bucket is empty: no point asking again before a token can be back.
        if (!lease.decision.allowed) return { ...lease.decision, retryAfterMs: Math.max(1, lease.until - now) };
      }
      // One refill per key at a time: concurrent requests wait for it and spend its lease, rather than
      // each taking a lease of its own (which would drain the shared buckets faster than they are used).
      const inflight = this.refills.get(keyId);
      if (!inflight) break;
      await inflight.catch(() => {});
    }
    const refill = this.refill(keyId, tenant);
    this.refills.set(keyId, refill);
    try {
      return await refill;
    } finally {
      this.refills.delete(keyId);
    }
  }

  private async refill(keyId: string, tenant: string): Promise<RateDecision> {
    const now = Date.now();
    const run = (
      this.client as unknown as {
        statehouseRateTake3(k1: string, k2: string, ...a: number[]): Promise<[number, number, number, number, number]>;
      }
    ).statehouseRateTake3;
    // Both buckets under the tenant's hash tag, so the script's two keys share a cluster slot.
    const base = `${this.prefix}rl:{${tenant}}`;
    const [taken, keyLeft, tenantLeft, keyWait, tenantWait] = await run.call(
      this.client,
      `${base}:k:${keyId}`,
      `${base}:t`,
      this.key.ratePerSecond,
      this.key.burst,
      this.tenant.ratePerSecond,
      this.tenant.burst,
      now,
      this.leaseSize,
    );
    const decision = decide(
      this,
      taken >= 1,
      { key: keyLeft, tenant: tenantLeft },
      { key: keyWait, tenant: tenantWait },
    );
    if (taken > 1 || (taken === 0 && this.leaseSize > 1)) {
      this.leases.set(
        keyId,
        taken > 1
          ? { tokens: taken - 1, until: now + LEASE_MS, decision }
          : { tokens: 0, until: now + Math.min(decision.retryAfterMs, LEASE_MS), decision },
      );
      if (this.leases.size > 10_000) this.leases.delete(this.leases.keys().next().value!);
    } else {
      this.leases.delete(keyId);
    }
    return decision;
  }
}

/** Buckets in this process, for the embedded single-instance default. */
export class MemoryRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; ts: number }>();
  readonly key: Bucket;
  readonly tenant: Bucket;

  constructor(
    buckets: { key: Bucket; tenant: Bucket },
    private readonly now: () => number = Date.now,
  ) {
    this.key = buckets.key;
    this.tenant = buckets.tenant;
  }

  async take(keyId: string, tenant: string): Promise<RateDecision> {
    const now = this.now();
    const k = this.level(`k:${keyId}`, this.key, now);
    const t = this.level(`t:${tenant}`, this.tenant, now);
    const allowed = k.tokens >= 1 && t.tokens >= 1;
    if (allowed) {
      k.tokens -= 1;
      t.tokens -= 1;
    }
    const wait = (b: { tokens: number }, spec: Bucket) =>
      b.tokens >= 1 ? 0 : Math.ceil(((1 - b.tokens) * 1000) / spec.ratePerSecond);
    return decide(
      this,
      allowed,
      { key: k.tokens, tenant: t.tokens },
      { key: wait(k, this.key), tenant: wait(t, this.tenant) },
    );
  }

  private level(id: string, spec: Bucket, now: number): { tokens: number; ts: number } {
    const b = this.buckets.get(id) ?? { tokens: spec.burst, ts: now };
    b.tokens = Math.min(spec.burst, b.tokens + Math.max(0, now - b.ts) * (spec.ratePerSecond / 1000));
    b.ts = now;
    this.buckets.set(id, b);
    if (this.buckets.size > 100_000) this.buckets.delete(this.buckets.keys().next().value!);
    return b;
  }
}

/**
 * The limiter as requests use it: through the hot tier's shared health (an open circuit, or a Redis
 * that already timed out in this request, costs nothing, and a timeout here makes the hot tier's calls
 * fail fast), failing open when the buckets cannot be read.
 */
export function guardedRateLimit(
  limiter: RateLimiter,
  hotCall: <T>(fn: () => Promise<T>) => Promise<T>,
): (principal: { keyId: string; tenant: string }) => Promise<RateDecision> {
  return async ({ keyId, tenant }) => {
    try {
      return await hotCall(() => limiter.take(keyId, tenant));
    } catch {
      return failOpen(limiter);
    }
  };
}

/** The key and tenant buckets from the configuration (the tenant's default to the key's numbers). */
export function bucketsFrom(
  config: Pick<
    Config,
    | "STATEHOUSE_RATE_LIMIT_RPS"
    | "STATEHOUSE_RATE_LIMIT_BURST"
    | "STATEHOUSE_TENANT_RATE_LIMIT_RPS"
    | "STATEHOUSE_TENANT_RATE_LIMIT_BURST"
  >,
): Record<BucketName, Bucket> {
  return {
    key: { ratePerSecond: config.STATEHOUSE_RATE_LIMIT_RPS, burst: config.STATEHOUSE_RATE_LIMIT_BURST },
    tenant: {
      ratePerSecond: config.STATEHOUSE_TENANT_RATE_LIMIT_RPS ?? config.STATEHOUSE_RATE_LIMIT_RPS,
      burst: config.STATEHOUSE_TENANT_RATE_LIMIT_BURST ?? config.STATEHOUSE_RATE_LIMIT_BURST,
    },
  };
}
