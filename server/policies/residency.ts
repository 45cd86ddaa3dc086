// Data residency: refusing (and auditing) writes of a tenant pinned elsewhere; noting where each tenant writes.
import { LRUCache } from "lru-cache";
import { StateError } from "../state/errors";
import type { PolicyRepository, RegionOfState, ResidencyAuditEntry, TenantPolicy } from "./policy-repository";

const REGION_NOTE_MS = 60_000;

export interface WriteAttempt {
  operation: string;
  namespace?: string;
  key?: string;
  actor?: string;
}

export class Residency {
  private readonly regionNoted = new LRUCache<string, number>({ max: 10_000 });

  constructor(
    private readonly repository: Pick<PolicyRepository, "recordRefusal" | "noteRegion" | "audit" | "regions">,
    private readonly options: {
      /** This server's region (STATEHOUSE_REGION). */
      serverRegion: string;
      /** Runs a warm-tier query with the store timeout, turning failures into `unavailable`. */
      guard<T>(fn: () => Promise<T>): Promise<T>;
      log: { warn(msg: string, fields?: Record<string, unknown>): void };
      onRefused?(event: "residency_refused", namespace: string): void;
    },
  ) {}

  /** Throws 403 residency_violation (after auditing it) when the policy pins the tenant to another region. */
  async check(policy: TenantPolicy, attempt: WriteAttempt): Promise<void> {
    const serverRegion = this.options.serverRegion;
    if (policy.region === null || policy.region === serverRegion) return;
    this.options.onRefused?.("residency_refused", attempt.namespace ?? "other");
    // Tenant and region only: never a value or a key's secret.
    this.options.log.warn("write refused: tenant pinned to another region", {
      tenant: policy.tenant,
      tenantRegion: policy.region,
      serverRegion,
      operation: attempt.operation,
    });
    const refusal = { tenant: policy.tenant, tenantRegion: policy.region, serverRegion, ...attempt };
    await this.options
      .guard(() => this.repository.recordRefusal(refusal))
      .catch(() =>
        this.options.log.warn("could not record a residency refusal in the audit table", { tenant: policy.tenant }),
      );
    throw new StateError(
      "residency_violation",
      `tenant ${policy.tenant} is pinned to region ${policy.region}; this server is in ${serverRegion}`,
      { tenantRegion: policy.region, serverRegion },
    );
  }

  /** Records (at most once a minute per tenant and process) that this tenant's state is written in this region. */
  noteWrite(tenant: string): void {
    const last = this.regionNoted.get(tenant);
    if (last !== undefined && Date.now() - last < REGION_NOTE_MS) return;
    this.regionNoted.set(tenant, Date.now());
    void this.options
      .guard(() => this.repository.noteRegion(tenant, this.options.serverRegion))
      .catch(() => this.regionNoted.delete(tenant));
  }

  /** Refused writes, newest first. */
  audit(options: { tenant?: string; limit?: number } = {}): Promise<ResidencyAuditEntry[]> {
    return this.options.guard(() =>
      this.repository.audit({ tenant: options.tenant, limit: Math.min(options.limit ?? 100, 1000) }),
    );
  }

  /** The region labels under which each tenant's state was written (one row per tenant and region). */
  regions(tenant?: string): Promise<RegionOfState[]> {
    return this.options.guard(() => this.repository.regions(tenant));
  }
}
