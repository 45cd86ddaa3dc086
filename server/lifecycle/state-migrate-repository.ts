// The migrate command's SQL: live records of a namespace in key order with their schema versions.
import type { PrismaClient } from "../db/generated/client";
import { live } from "../db/state-records";
import type { NamespacePolicy } from "../state/namespaces";

export interface ScannedRow {
  key: string;
  value: string | null;
  version: number;
  schema_version: number;
  expires_at: Date | null;
  idle_ttl_seconds: number | null;
}

/** Live at the statements' `$3` (now). */
const LIVE = live("$3");

export class StateMigrateRepository {
  constructor(private readonly prisma: Pick<PrismaClient, "$queryRawUnsafe">) {}

  /** Tenants with live records in the namespace, with how many each has (for the progress total). */
  async tenants(namespace: string, only: string | undefined): Promise<{ tenant: string; records: number }[]> {
    const rows = await this.prisma.$queryRawUnsafe<{ tenant: string; records: number }[]>(
      `SELECT tenant, count(*)::int AS records FROM state_records
       WHERE namespace = $1 AND ($2::text IS NULL OR tenant = $2::text) AND ${LIVE} GROUP BY tenant ORDER BY tenant`,
      namespace,
      only ?? null,
      new Date(),
    );
    return rows.map((r) => ({ tenant: r.tenant, records: Number(r.records) }));
  }

  /** How many live records of the tenant sort at or before `lastKey` (progress of a resumed run). */
  async countUpTo(namespace: string, tenant: string, lastKey: string): Promise<number> {
    const rows = await this.prisma.$queryRawUnsafe<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM state_records WHERE namespace = $1 AND tenant = $2 AND ${LIVE} AND key <= $4`,
      namespace,
      tenant,
      new Date(),
      lastKey,
    );
    return Number(rows[0]?.n ?? 0);
  }

  /** One batch in key order after `after`; values only for records that need upgrading. */
  async scan(
    policy: Pick<NamespacePolicy, "name" | "schemaVersion">,
    tenant: string,
    after: string | undefined,
    limit: number,
  ): Promise<ScannedRow[]> {
    return this.prisma.$queryRawUnsafe<ScannedRow[]>(
      `SELECT key, CASE WHEN schema_version < $5 THEN value::text END AS value, version, schema_version, expires_at,
         idle_ttl_seconds
       FROM state_records
       WHERE namespace = $1 AND tenant = $2 AND ${LIVE} AND ($4::text IS NULL OR key > $4::text)
       ORDER BY key LIMIT $6`,
      policy.name,
      tenant,
      new Date(),
      after ?? null,
      policy.schemaVersion,
      limit,
    );
  }
}
