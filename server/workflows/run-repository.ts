// Workflow runs across tenants in the warm tier: the SQL behind recovery scans and the operators' run lists.
import type { PrismaClient } from "../db/generated/client";
import { live, type RecordRow, toRecord } from "../db/state-records";
import { LIMITS, type StateRecord, validateNamespaceName } from "../state/store";

export class RunRepository {
  constructor(private readonly prisma: Pick<PrismaClient, "$queryRawUnsafe">) {}

  /**
   * Live records of one namespace across every tenant, whose top-level JSON field `field` is one of
   * `values` (every record when no field is given), most recently changed first or oldest first; of one
   * tenant with `tenant`. For background workers and operators (workflow recovery, the dashboard).
   */
  async findAcrossTenants(
    namespace: string,
    options: {
      field?: string;
      values?: readonly string[];
      order?: "newest" | "oldest";
      limit?: number;
      tenant?: string;
    } = {},
  ): Promise<{ tenant: string; record: StateRecord }[]> {
    validateNamespaceName(namespace);
    const limit = Math.min(Math.max(1, options.limit ?? LIMITS.defaultListLimit), LIMITS.maxListLimit);
    const rows = await this.prisma.$queryRawUnsafe<(RecordRow & { tenant: string; key: string })[]>(
      `SELECT tenant, key, value::text AS value, version, schema_version, created_at, updated_at, expires_at, size_bytes
       FROM state_records
       WHERE namespace = $1 AND ${live("$2")}
         AND ($3::text IS NULL OR value->>$3::text = ANY($4::text[])) AND ($6::text IS NULL OR tenant = $6)
       ORDER BY updated_at ${options.order === "oldest" ? "ASC" : "DESC"} LIMIT $5`,
      namespace,
      new Date(),
      options.field ?? null,
      [...(options.values ?? [])],
      limit,
      options.tenant ?? null,
    );
    return rows.map((r) => ({ tenant: r.tenant, record: toRecord({ tenant: r.tenant, namespace, key: r.key }, r) }));
  }
}
