// Per-tenant policies as one service for the routes and the container: its parts composed, nothing of its own.
import { type AdmissionOptions, PolicyGate, type PlannedWrite, type QuotaUsage } from "./admission";
import type { OperationCounter } from "./operation-counter";
import { PolicyCache } from "./policy-cache";
import type { PolicyRepository, RegionOfState, ResidencyAuditEntry, TenantPolicy } from "./policy-repository";
import { Residency, type WriteAttempt } from "./residency";

export type { PlannedWrite, QuotaUsage } from "./admission";
export { MemoryOperationCounter, type OperationCounter, RedisOperationCounter } from "./operation-counter";
export { POLICY_CACHE_MS } from "./policy-cache";
export type { ResidencyAuditEntry, TenantPolicy } from "./policy-repository";

export interface TenantPolicyOptions extends AdmissionOptions {
  log: { warn(msg: string, fields?: Record<string, unknown>): void };
  /** Told of each refused write (for the lifecycle events counter). */
  onRefused?(event: "residency_refused" | "quota_refused", namespace: string): void;
  /** Told when this process changes a tenant's policy (server/invalidation.ts tells the other instances). */
  onChange?(tenant: string): void;
}

/**
 * Per-tenant policies as system state: daily operations and stored-bytes quotas, and a region pin.
 * Limits live in the warm tier (set by admins, PolicyCache), daily counters in the hot tier
 * (operation-counter.ts), the pin and its audit in residency.ts, and every write passes one gate
 * (admission.ts: `admitCall` at the route, `checkWrites` in the state engine).
 */
export class TenantPolicyService {
  readonly serverRegion: string;
  private readonly policies: PolicyCache;
  private readonly residency: Residency;
  private readonly gate: PolicyGate;

  constructor(repository: PolicyRepository, counter: OperationCounter, options: TenantPolicyOptions) {
    this.serverRegion = options.serverRegion;
    this.policies = new PolicyCache(repository, options.guard, options.onChange);
    this.residency = new Residency(repository, options);
    this.gate = new PolicyGate(this.policies, this.residency, counter, repository, options);
  }

  /** Told when this process changes a tenant's policy, so other instances can drop their cached copy. */
  /** Starts flushing unlimited tenants' counts every `intervalMs`, and loading every policy each minute. */
  start(intervalMs = 1000): this {
    this.gate.start(intervalMs);
    this.policies.start();
    return this;
  }

  async stop(): Promise<void> {
    this.policies.stop();
    await this.gate.stop();
  }

  flush(): Promise<void> {
    return this.gate.flush();
  }

  forget(tenant: string): void {
    this.policies.forget(tenant);
  }

  get(tenant: string): Promise<TenantPolicy> {
    return this.policies.get(tenant);
  }

  list(): Promise<TenantPolicy[]> {
    return this.policies.list();
  }

  set(
    tenant: string,
    change: Partial<Pick<TenantPolicy, "operationsPerDay" | "bytesStored" | "region">>,
  ): Promise<TenantPolicy> {
    return this.policies.set(tenant, change);
  }

  admitCall(tenant: string, call: WriteAttempt & { operations: number }): Promise<void> {
    return this.gate.admitCall(tenant, call);
  }

  checkWrites(tenant: string, writes: readonly PlannedWrite[], actor?: string): Promise<void> {
    return this.gate.checkWrites(tenant, writes, actor);
  }

  usage(tenant: string): Promise<QuotaUsage> {
    return this.gate.usage(tenant);
  }

  audit(options: { tenant?: string; limit?: number } = {}): Promise<ResidencyAuditEntry[]> {
    return this.residency.audit(options);
  }

  regions(tenant?: string): Promise<RegionOfState[]> {
    return this.residency.regions(tenant);
  }
}
