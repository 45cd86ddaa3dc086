import { LRUCache } from "lru-cache";
import type { PrismaClient } from "../db/generated/client";
import { InvalidError, StateError } from "../state/errors";
import type { RedisClient } from "../state/redis";
import { encodeValue } from "../state/store";
import { withTimeout } from "../state/timeout";

/** What admins set per tenant. null = no limit / not pinned. */
export interface TenantPolicy {
  tenant: string;
  operationsPerDay: number | null;
  bytesStored: number | null;
  /** The only region whose servers may write this tenant's state; null = any. */
  region: string | null;
  updatedAt: Date | null;
}

/** One write the state engine is about to make (StateService calls the guard with these). */
export interface PlannedWrite {
  op: "put" | "delete";
  namespace: string;
  key: string;
  /** The new value of a put (its size is computed only when the tenant has a storage quota). */
  value?: unknown;
}

export interface QuotaUsage {
  tenant: string;
  day: string;
  resetsAt: string;
  operations: { used: number; limit: number | null };
  bytesStored: { used: number; limit: number | null };
  region: string | null;
  serverRegion: string;
}

export interface ResidencyAuditEntry {
  id: string;
  at: string;
  tenant: string;
  tenantRegion: string;
  serverRegion: string;
  operation: string;
  namespace: string | null;
  key: string | null;
  actor: string | null;
}

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

export interface TenantPolicyOptions {
  /** This server's region (STATEHOUSE_REGION). */
  serverRegion: string;
  /** Durable namespaces count toward stored bytes; ephemeral ones (hot only) do not. */
  isDurable(namespace: string): boolean;
  /** Runs a warm-tier query with the store timeout, turning failures into `unavailable`. */
  guard<T>(fn: () => Promise<T>): Promise<T>;
  /** Runs a hot-tier command through the Redis connection's shared health (its timeout and breaker); rejects on failure. */
  guardHot<T>(fn: () => Promise<T>): Promise<T>;
  log: { warn(msg: string, fields?: Record<string, unknown>): void };
  /** Told of each refused write (for the lifecycle events counter). */
  onRefused?(event: "residency_refused" | "quota_refused", namespace: string): void;
  now?(): Date;
}

const TENANT = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const POLICY_COLUMNS =
  "tenant, max_operations_per_day, max_bytes_stored::float8 AS max_bytes_stored, region, updated_at";
const SELECT_ALL = `SELECT ${POLICY_COLUMNS} FROM tenant_policies ORDER BY tenant`;
const REGION = /^[a-z0-9][a-z0-9-]{0,31}$/;
/** How long a tenant's policy is cached per process (a change made here applies at once, elsewhere within this). */
export const POLICY_CACHE_MS = 5_000;
const REGION_NOTE_MS = 60_000;

/**
 * Per-tenant policies as system state: daily operations and stored-bytes quotas, and a region pin.
 * Limits live in the warm tier (set by admins), daily counters in the hot tier. Two gates:
 * `admitCall` (route layer: residency, then one operation per call or per batch item) and
 * `checkWrites` (StateService, before any store is touched: residency and the storage quota).
 * Nothing is written when a gate refuses.
 */
export class TenantPolicyService {
  private readonly cache = new LRUCache<string, TenantPolicy>({ max: 10_000, ttl: POLICY_CACHE_MS });
  /**
   * Used while the warm tier cannot answer: the last policy read of every tenant that has one (all are
   * loaded at start and every minute), so pins and limits keep holding through an outage.
   */
  private readonly lastKnown = new LRUCache<string, TenantPolicy>({ max: 100_000 });
  private preloadTimer: NodeJS.Timeout | undefined;
  private readonly regionNoted = new LRUCache<string, number>({ max: 10_000 });
  /** Operations of tenants without a daily limit, counted here and added to the shared counter every second. */
  private unflushed = new Map<string, { tenant: string; day: string; operations: number }>();
  private flushTimer: NodeJS.Timeout | undefined;
  /** Told when this process changes a tenant's policy, so other instances can drop their cached copy. */
  onChange: (tenant: string) => void = () => {};
  readonly serverRegion: string;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly counter: OperationCounter,
    private readonly options: TenantPolicyOptions,
  ) {
    this.serverRegion = options.serverRegion;
  }

  /** Starts flushing unlimited tenants' counts every `intervalMs`. */
  start(intervalMs = 1000): this {
    this.flushTimer = setInterval(() => void this.flush(), intervalMs);
    this.flushTimer.unref();
    void this.preload();
    this.preloadTimer = setInterval(() => void this.preload(), 60_000);
    this.preloadTimer.unref();
    return this;
  }

  async stop(): Promise<void> {
    clearInterval(this.flushTimer);
    clearInterval(this.preloadTimer);
    await this.flush();
  }

  /** Adds the counts kept in this process to the shared counter. Lost if the hot tier cannot take them (usage only, never a limit). */
  async flush(): Promise<void> {
    if (this.unflushed.size === 0) return;
    const counts = [...this.unflushed.values()];
    this.unflushed = new Map();
    await this.options.guardHot(() => this.counter.add(counts)).catch(() => {});
  }

  /** Remembers every tenant's policy for outages (a tenant not among them has none). */
  private async preload(): Promise<void> {
    try {
      // Off the request path, so not held to the store timeout (a busy start can take longer).
      const rows = await withTimeout(this.prisma.$queryRawUnsafe<PolicyRow[]>(SELECT_ALL), 10_000);
      for (const r of rows) this.lastKnown.set(r.tenant, fromRow(r));
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
      const rows = await this.options.guard(() =>
        this.prisma.$queryRawUnsafe<PolicyRow[]>(
          `SELECT ${POLICY_COLUMNS} FROM tenant_policies WHERE tenant = $1`,
          tenant,
        ),
      );
      policy = rows[0] ? fromRow(rows[0]) : unlimited(tenant);
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
    const rows = await this.options.guard(() => this.prisma.$queryRawUnsafe<PolicyRow[]>(SELECT_ALL));
    return rows.map(fromRow);
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
    const current = await this.fresh(tenant);
    const next = { ...current, ...definedOnly(change) };
    const rows = await this.options.guard(() =>
      this.prisma.$queryRawUnsafe<PolicyRow[]>(
        `INSERT INTO tenant_policies (tenant, max_operations_per_day, max_bytes_stored, region, updated_at) VALUES ($1, $2, $3, $4, now())
         ON CONFLICT (tenant) DO UPDATE SET max_operations_per_day = $2, max_bytes_stored = $3, region = $4, updated_at = now()
         RETURNING ${POLICY_COLUMNS}`,
        tenant,
        next.operationsPerDay,
        next.bytesStored,
        next.region,
      ),
    );
    const saved = fromRow(rows[0]!);
    this.cache.set(tenant, saved);
    this.lastKnown.set(tenant, saved);
    this.onChange(tenant);
    return saved;
  }

  /**
   * The route-layer gate for calls that write or run agents: refuses (403 residency_violation, audited) a tenant pinned to
   * another region, then counts `operations` against the daily quota (429 until the UTC day rolls over,
   * nothing counted). If the hot tier cannot answer the count, the call is allowed (fails open, like rate limits).
   */
  async admitCall(
    tenant: string,
    call: { operations: number; operation: string; namespace?: string; key?: string; actor?: string },
  ): Promise<void> {
    const policy = await this.get(tenant);
    await this.checkResidency(policy, call);
    const now = this.now();
    if (policy.operationsPerDay === null) {
      // No limit to enforce: no round trip per call, only usage to keep.
      const k = `${tenant}\n${dayOf(now)}`;
      const entry = this.unflushed.get(k) ?? { tenant, day: dayOf(now), operations: 0 };
      entry.operations += call.operations;
      this.unflushed.set(k, entry);
      return;
    }
    let decision: { allowed: boolean; used: number };
    try {
      decision = await this.options.guardHot(() =>
        this.counter.admit(tenant, dayOf(now), call.operations, policy.operationsPerDay),
      );
    } catch {
      return;
    }
    if (decision.allowed) return;
    this.options.onRefused?.("quota_refused", "other");
    const retryAfterSeconds = Math.max(1, Math.ceil((nextDay(now).getTime() - now.getTime()) / 1000));
    throw new StateError(
      "operations_quota_exceeded",
      `tenant ${tenant} has used ${decision.used} of its ${policy.operationsPerDay} operations today${call.operations > 1 ? `; this call needs ${call.operations}` : ""}`,
      {
        limit: policy.operationsPerDay,
        used: decision.used,
        requested: call.operations,
        resetsAt: nextDay(now).toISOString(),
        retryAfterSeconds,
      },
    );
  }

  /**
   * The StateService gate, before any store is touched: residency, then the storage quota — the
   * tenant's live durable bytes, minus what the written keys hold now, plus their new sizes, must stay
   * within the limit. Checked at admission: concurrent writers of one tenant can overshoot by what is in flight.
   */
  async checkWrites(tenant: string, writes: readonly PlannedWrite[], actor?: string): Promise<void> {
    if (writes.length === 0) return;
    const policy = await this.get(tenant);
    await this.checkResidency(policy, {
      operation: writes.length > 1 ? "transaction" : writes[0]!.op,
      namespace: writes[0]!.namespace,
      key: writes[0]!.key,
      actor,
    });
    this.noteRegion(tenant);
    const durable = writes.filter((w) => this.options.isDurable(w.namespace));
    if (policy.bytesStored === null || durable.length === 0 || !durable.some((w) => w.op === "put")) return;
    const adding = durable.reduce((sum, w) => sum + (w.op === "put" ? encodeValue(w.value).sizeBytes : 0), 0);
    let stored: { total: number; replaced: number };
    try {
      stored = await this.storedBytes(
        tenant,
        durable.map((w) => `${w.namespace}\u0001${w.key}`),
      );
    } catch {
      // Warm tier down: the write itself will be refused (503) or buffered (sessions); don't block it here.
      return;
    }
    const { total, replaced } = stored;
    const after = total - replaced + adding;
    if (after <= policy.bytesStored || after <= total) return; // a write that does not grow usage is always allowed
    this.options.onRefused?.("quota_refused", durable[0]!.namespace);
    throw new StateError(
      "storage_quota_exceeded",
      `tenant ${tenant} would store ${after} bytes; its quota is ${policy.bytesStored}`,
      {
        limitBytes: policy.bytesStored,
        usedBytes: total,
        requestedBytes: adding,
      },
    );
  }

  async usage(tenant: string): Promise<QuotaUsage> {
    const policy = await this.get(tenant);
    const now = this.now();
    const [operations, stored] = await Promise.all([
      this.options
        .guardHot(() => this.counter.used(tenant, dayOf(now)))
        .then(
          (n) => n + (this.unflushed.get(`${tenant}\n${dayOf(now)}`)?.operations ?? 0),
          () => 0,
        ),
      this.storedBytes(tenant, []),
    ]);
    return {
      tenant,
      day: dayOf(now),
      resetsAt: nextDay(now).toISOString(),
      operations: { used: operations, limit: policy.operationsPerDay },
      bytesStored: { used: stored.total, limit: policy.bytesStored },
      region: policy.region,
      serverRegion: this.serverRegion,
    };
  }

  /** Refused writes, newest first. */
  async audit(options: { tenant?: string; limit?: number } = {}): Promise<ResidencyAuditEntry[]> {
    const rows = await this.options.guard(() =>
      this.prisma.$queryRawUnsafe<AuditRow[]>(
        `SELECT id, at, tenant, tenant_region, server_region, operation, namespace, key, actor FROM residency_audit
         WHERE ($1::text IS NULL OR tenant = $1) ORDER BY id DESC LIMIT $2`,
        options.tenant ?? null,
        Math.min(options.limit ?? 100, 1000),
      ),
    );
    return rows.map((r) => ({
      id: String(r.id),
      at: r.at.toISOString(),
      tenant: r.tenant,
      tenantRegion: r.tenant_region,
      serverRegion: r.server_region,
      operation: r.operation,
      namespace: r.namespace,
      key: r.key,
      actor: r.actor,
    }));
  }

  /** The region labels under which each tenant's state was written (one row per tenant and region). */
  async regions(
    tenant?: string,
  ): Promise<{ tenant: string; region: string; firstWriteAt: string; lastWriteAt: string }[]> {
    const rows = await this.options.guard(() =>
      this.prisma.$queryRawUnsafe<{ tenant: string; region: string; first_write_at: Date; last_write_at: Date }[]>(
        `SELECT tenant, region, first_write_at, last_write_at FROM tenant_regions WHERE ($1::text IS NULL OR tenant = $1) ORDER BY tenant, region LIMIT 5000`,
        tenant ?? null,
      ),
    );
    return rows.map((r) => ({
      tenant: r.tenant,
      region: r.region,
      firstWriteAt: r.first_write_at.toISOString(),
      lastWriteAt: r.last_write_at.toISOString(),
    }));
  }

  private async checkResidency(
    policy: TenantPolicy,
    attempt: { operation: string; namespace?: string; key?: string; actor?: string },
  ): Promise<void> {
    if (policy.region === null || policy.region === this.serverRegion) return;
    this.options.onRefused?.("residency_refused", attempt.namespace ?? "other");
    // Tenant and region only: never a value or a key's secret.
    this.options.log.warn("write refused: tenant pinned to another region", {
      tenant: policy.tenant,
      tenantRegion: policy.region,
      serverRegion: this.serverRegion,
      operation: attempt.operation,
    });
    await this.options
      .guard(() =>
        this.prisma.$executeRawUnsafe(
          `INSERT INTO residency_audit (tenant, tenant_region, server_region, operation, namespace, key, actor) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          policy.tenant,
          policy.region,
          this.serverRegion,
          attempt.operation,
          attempt.namespace ?? null,
          attempt.key ?? null,
          attempt.actor ?? null,
        ),
      )
      .catch(() =>
        this.options.log.warn("could not record a residency refusal in the audit table", { tenant: policy.tenant }),
      );
    throw new StateError(
      "residency_violation",
      `tenant ${policy.tenant} is pinned to region ${policy.region}; this server is in ${this.serverRegion}`,
      {
        tenantRegion: policy.region,
        serverRegion: this.serverRegion,
      },
    );
  }

  /** Records (at most once a minute per tenant and process) that this tenant's state is written in this region. */
  private noteRegion(tenant: string): void {
    const last = this.regionNoted.get(tenant);
    if (last !== undefined && Date.now() - last < REGION_NOTE_MS) return;
    this.regionNoted.set(tenant, Date.now());
    void this.options
      .guard(() =>
        this.prisma.$executeRawUnsafe(
          `INSERT INTO tenant_regions (tenant, region) VALUES ($1, $2) ON CONFLICT (tenant, region) DO UPDATE SET last_write_at = now()`,
          tenant,
          this.serverRegion,
        ),
      )
      .catch(() => this.regionNoted.delete(tenant));
  }

  private async storedBytes(tenant: string, refs: string[]): Promise<{ total: number; replaced: number }> {
    const rows = await this.options.guard(() =>
      this.prisma.$queryRawUnsafe<{ total: number; replaced: number }[]>(
        `SELECT COALESCE(SUM(size_bytes), 0)::float8 AS total,
                COALESCE(SUM(size_bytes) FILTER (WHERE namespace || chr(1) || key = ANY($2::text[])), 0)::float8 AS replaced
         FROM state_records WHERE tenant = $1 AND NOT deleted AND (expires_at IS NULL OR expires_at > now())`,
        tenant,
        refs,
      ),
    );
    return { total: Number(rows[0]?.total ?? 0), replaced: Number(rows[0]?.replaced ?? 0) };
  }

  /** The policy as stored now (not cached): updates start from it. */
  private async fresh(tenant: string): Promise<TenantPolicy> {
    this.cache.delete(tenant);
    return this.get(tenant);
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }
}

interface PolicyRow {
  tenant: string;
  max_operations_per_day: number | null;
  max_bytes_stored: number | null;
  region: string | null;
  updated_at: Date;
}

interface AuditRow {
  id: bigint;
  at: Date;
  tenant: string;
  tenant_region: string;
  server_region: string;
  operation: string;
  namespace: string | null;
  key: string | null;
  actor: string | null;
}

function fromRow(r: PolicyRow): TenantPolicy {
  return {
    tenant: r.tenant,
    operationsPerDay: r.max_operations_per_day,
    bytesStored: r.max_bytes_stored === null ? null : Number(r.max_bytes_stored),
    region: r.region,
    updatedAt: r.updated_at,
  };
}

function unlimited(tenant: string): TenantPolicy {
  return { tenant, operationsPerDay: null, bytesStored: null, region: null, updatedAt: null };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The UTC day a counter belongs to. */
export function dayOf(d: Date): string {
  return d.toISOString().slice(0, 10);
}

function nextDay(d: Date): Date {
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1));
}
