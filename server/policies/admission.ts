// The tenant-policy gate every write passes: region pin, daily operations and stored bytes, each checked once.
import { StateError } from "../state/errors";
import { currentRequestScope } from "../state/request-scope";
import { encodeValue } from "../state/store";
import { dayOf, nextDay, type OperationCounter } from "./operation-counter";
import type { PolicyCache } from "./policy-cache";
import type { PolicyRepository, TenantPolicy } from "./policy-repository";
import type { Residency, WriteAttempt } from "./residency";

/** One write the state engine is about to make (StateService calls the gate with these). */
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

export interface AdmissionOptions {
  serverRegion: string;
  /** Durable namespaces count toward stored bytes; ephemeral ones (hot only) do not. */
  isDurable(namespace: string): boolean;
  /** Runs a warm-tier query with the store timeout, turning failures into `unavailable`. */
  guard<T>(fn: () => Promise<T>): Promise<T>;
  /** Runs a hot-tier command through the Redis connection's shared health (timeout, breaker); rejects on failure. */
  guardHot<T>(fn: () => Promise<T>): Promise<T>;
  /** Told of each refused write (for the lifecycle events counter). */
  onRefused?(event: "quota_refused", namespace: string): void;
  now?(): Date;
}

/**
 * One gate, two doors. A call that writes state or runs an agent is admitted at the route
 * (`admitCall`: the region pin, then its operations against the daily quota); each write is checked
 * by the state engine before any store is touched (`checkWrites`: the region pin unless this request
 * was already admitted for the tenant, then the storage quota). So within a request the pin is checked
 * and audited once, the operations counted once and the bytes checked once; writes made outside a
 * request (workers) are checked at the write. Nothing is written when the gate refuses.
 */
export class PolicyGate {
  /** Operations of tenants without a daily limit, counted here and added to the shared counter every second. */
  private unflushed = new Map<string, { tenant: string; day: string; operations: number }>();
  private flushTimer: NodeJS.Timeout | undefined;
  /** A flush on its way to the hot tier: its counts are in neither `unflushed` nor the counter yet. */
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly policies: Pick<PolicyCache, "get">,
    private readonly residency: Pick<Residency, "check" | "noteWrite">,
    private readonly counter: OperationCounter,
    private readonly repository: Pick<PolicyRepository, "storedBytes">,
    private readonly options: AdmissionOptions,
  ) {}

  /** Starts flushing unlimited tenants' counts every `intervalMs`. */
  start(intervalMs = 1000): void {
    this.flushTimer = setInterval(() => void this.flush(), intervalMs);
    this.flushTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.flushTimer);
    await this.flush();
  }

  /** Adds the counts kept here to the shared counter; lost if the hot tier cannot take them (usage, never a limit). */
  async flush(): Promise<void> {
    if (this.unflushed.size === 0) return;
    const counts = [...this.unflushed.values()];
    this.unflushed = new Map();
    const flushing = this.options.guardHot(() => this.counter.add(counts)).catch(() => {});
    this.flushing = flushing;
    await flushing;
    if (this.flushing === flushing) this.flushing = undefined;
  }

  /**
   * The route's door, for calls that write or run agents: refuses (403 residency_violation, audited) a
   * tenant pinned to another region, then counts `operations` against the daily quota (429 until the
   * UTC day rolls over, nothing counted). If the hot tier cannot answer the count, the call is allowed
   * (fails open, like rate limits).
   */
  async admitCall(tenant: string, call: WriteAttempt & { operations: number }): Promise<void> {
    const policy = await this.policies.get(tenant);
    await this.admitRegion(policy, call);
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
    const needs = call.operations > 1 ? `; this call needs ${call.operations}` : "";
    throw new StateError(
      "operations_quota_exceeded",
      `tenant ${tenant} has used ${decision.used} of its ${policy.operationsPerDay} operations today${needs}`,
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
   * The state engine's door, before any store is touched: the region pin (unless the route admitted
   * this request already), then the storage quota — the tenant's live durable bytes, minus what the
   * written keys hold now, plus their new sizes, must stay within the limit. Checked at admission:
   * concurrent writers of one tenant can overshoot by what is in flight.
   */
  async checkWrites(tenant: string, writes: readonly PlannedWrite[], actor?: string): Promise<void> {
    if (writes.length === 0) return;
    const policy = await this.policies.get(tenant);
    await this.admitRegion(policy, {
      operation: writes.length > 1 ? "transaction" : writes[0]!.op,
      namespace: writes[0]!.namespace,
      key: writes[0]!.key,
      actor,
    });
    this.residency.noteWrite(tenant);
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

  /** Today's operations and the live bytes stored, with the limits and the pin. */
  async usage(tenant: string): Promise<QuotaUsage> {
    const policy = await this.policies.get(tenant);
    const now = this.now();
    // Counts on their way to the hot tier are in neither place: wait for them, so usage never dips.
    await this.flushing;
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
      serverRegion: this.options.serverRegion,
    };
  }

  /** The region pin, once per request and tenant: a request the route admitted is not checked (or audited) again. */
  private async admitRegion(policy: TenantPolicy, attempt: WriteAttempt): Promise<void> {
    const scope = currentRequestScope();
    if (scope?.hasAdmitted(policy.tenant)) return;
    await this.residency.check(policy, attempt);
    scope?.markAdmitted(policy.tenant);
  }

  private storedBytes(tenant: string, refs: string[]): Promise<{ total: number; replaced: number }> {
    return this.options.guard(() => this.repository.storedBytes(tenant, refs));
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }
}
