// Tenancy's SQL: tenant_policies, residency_audit and tenant_regions, a tenant's stored bytes, and which tenants exist.
import type { PrismaClient } from "../db/generated/client";
import { live } from "../db/state-records";

/** What admins set per tenant. null = no limit / not pinned. */
export interface TenantPolicy {
  tenant: string;
  operationsPerDay: number | null;
  bytesStored: number | null;
  /** The only region whose servers may write this tenant's state; null = any. */
  region: string | null;
  updatedAt: Date | null;
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

export interface RegionOfState {
  tenant: string;
  region: string;
  firstWriteAt: string;
  lastWriteAt: string;
}

/** A refused write as the audit table keeps it: tenant and region, never a value. */
export interface Refusal {
  tenant: string;
  tenantRegion: string;
  serverRegion: string;
  operation: string;
  namespace?: string;
  key?: string;
  actor?: string;
}

const POLICY_COLUMNS =
  "tenant, max_operations_per_day, max_bytes_stored::float8 AS max_bytes_stored, region, updated_at";

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

export class PolicyRepository {
  constructor(private readonly prisma: Pick<PrismaClient, "$queryRawUnsafe" | "$executeRawUnsafe">) {}

  /** Every tenant that has a policy. */
  async all(): Promise<TenantPolicy[]> {
    const rows = await this.prisma.$queryRawUnsafe<PolicyRow[]>(
      `SELECT ${POLICY_COLUMNS} FROM tenant_policies ORDER BY tenant`,
    );
    return rows.map(fromRow);
  }

  /** The tenant's policy, or undefined when it has none. */
  async get(tenant: string): Promise<TenantPolicy | undefined> {
    const rows = await this.prisma.$queryRawUnsafe<PolicyRow[]>(
      `SELECT ${POLICY_COLUMNS} FROM tenant_policies WHERE tenant = $1`,
      tenant,
    );
    return rows[0] && fromRow(rows[0]);
  }

  async save(
    policy: Pick<TenantPolicy, "tenant" | "operationsPerDay" | "bytesStored" | "region">,
  ): Promise<TenantPolicy> {
    const rows = await this.prisma.$queryRawUnsafe<PolicyRow[]>(
      `INSERT INTO tenant_policies (tenant, max_operations_per_day, max_bytes_stored, region, updated_at)
       VALUES ($1, $2, $3, $4, now())
       ON CONFLICT (tenant) DO UPDATE
         SET max_operations_per_day = $2, max_bytes_stored = $3, region = $4, updated_at = now()
       RETURNING ${POLICY_COLUMNS}`,
      policy.tenant,
      policy.operationsPerDay,
      policy.bytesStored,
      policy.region,
    );
    return fromRow(rows[0]!);
  }

  async recordRefusal(r: Refusal): Promise<void> {
    await this.prisma.$executeRawUnsafe(
      `INSERT INTO residency_audit (tenant, tenant_region, server_region, operation, namespace, key, actor)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      r.tenant,
      r.tenantRegion,
      r.serverRegion,
      r.operation,
      r.namespace ?? null,
      r.key ?? null,
      r.actor ?? null,
    );
  }

  /** Refused writes, newest first. */
  async audit(options: { tenant?: string; limit: number }): Promise<ResidencyAuditEntry[]> {
    const rows = await this.prisma.$queryRawUnsafe<AuditRow[]>(
      `SELECT id, at, tenant, tenant_region, server_region, operation, namespace, key, actor FROM residency_audit
       WHERE ($1::text IS NULL OR tenant = $1) ORDER BY id DESC LIMIT $2`,
      options.tenant ?? null,
      options.limit,
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

  /** Notes that `tenant`'s state was written in `region` now. */
  async noteRegion(tenant: string, region: string): Promise<void> {
    await this.prisma.$executeRawUnsafe(
      `INSERT INTO tenant_regions (tenant, region) VALUES ($1, $2)
       ON CONFLICT (tenant, region) DO UPDATE SET last_write_at = now()`,
      tenant,
      region,
    );
  }

  /** The region labels under which each tenant's state was written (one row per tenant and region). */
  async regions(tenant?: string): Promise<RegionOfState[]> {
    const rows = await this.prisma.$queryRawUnsafe<
      { tenant: string; region: string; first_write_at: Date; last_write_at: Date }[]
    >(
      `SELECT tenant, region, first_write_at, last_write_at FROM tenant_regions
       WHERE ($1::text IS NULL OR tenant = $1) ORDER BY tenant, region LIMIT 5000`,
      tenant ?? null,
    );
    return rows.map((r) => ({
      tenant: r.tenant,
      region: r.region,
      firstWriteAt: r.first_write_at.toISOString(),
      lastWriteAt: r.last_write_at.toISOString(),
    }));
  }

  /**
   * The tenant's live bytes in warm (`total`), and how many of them the keys `refs` hold now
   * (`replaced`; each ref is `namespace + "\u0001" + key`).
   */
  async storedBytes(tenant: string, refs: readonly string[]): Promise<{ total: number; replaced: number }> {
    const rows = await this.prisma.$queryRawUnsafe<{ total: number; replaced: number }[]>(
      `SELECT COALESCE(SUM(size_bytes), 0)::float8 AS total,
              COALESCE(SUM(size_bytes) FILTER (WHERE namespace || chr(1) || key = ANY($2::text[])), 0)::float8
                 AS replaced
       FROM state_records WHERE tenant = $1 AND ${live("now()")}`,
      tenant,
      [...refs],
    );
    return { total: Number(rows[0]?.total ?? 0), replaced: Number(rows[0]?.replaced ?? 0) };
  }

  /** Tenants that have state or keys (for the dashboard's state browser and start-up clean-ups). */
  async tenants(limit = 1000): Promise<string[]> {
    const rows = await this.prisma.$queryRawUnsafe<{ tenant: string }[]>(
      `SELECT tenant FROM (SELECT DISTINCT tenant FROM state_records UNION SELECT DISTINCT tenant FROM api_keys) t
       ORDER BY tenant LIMIT $1`,
      limit,
    );
    return rows.map((r) => r.tenant);
  }
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
