// The memories' SQL: a user's memories, full-text matches and vectors, read from state_records (the
// warm tier, source of truth) through the partial indexes of migration 20261206000000_memory_search.
import { live, RECORD_COLUMNS, type RecordRow, type Sql, toRecord } from "../db/state-records";
import type { StateRecord } from "../state/store";
import { MEMORIES_NAMESPACE } from "./namespaces";

const NS = `namespace = '${MEMORIES_NAMESPACE}'`;
const OF_USER = `tenant = $1 AND ${NS} AND value->>'userId' = $2 AND ${live("now()")}`;

/** Optional filters of a search: kinds (any of) and an agent (its memories and those of every agent). */
export interface MemoryFilter {
  kinds?: readonly string[];
  agent?: string;
}

/** `AND …` clauses for a filter, with their parameters numbered from `first`. */
function filtered(filter: MemoryFilter, first: number): { sql: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  if (filter.kinds?.length) {
    params.push([...filter.kinds]);
    clauses.push(`value->>'kind' = ANY($${first + params.length - 1}::text[])`);
  }
  if (filter.agent !== undefined) {
    params.push(filter.agent);
    clauses.push(`(value->>'agent' IS NULL OR value->>'agent' = $${first + params.length - 1})`);
  }
  return { sql: clauses.map((c) => ` AND ${c}`).join(""), params };
}

export class MemoryRepository {
  constructor(private readonly sql: Sql) {}

  /** The tenant's users with memories, most memories first (at most `limit`): the dashboard's user list. */
  async users(
    tenant: string,
    limit: number,
  ): Promise<{ userId: string; memories: number; bytes: number; lastUpdatedAt: Date }[]> {
    const rows = await this.sql.$queryRawUnsafe<
      { user_id: string; memories: number; bytes: number; last_updated_at: Date }[]
    >(
      `SELECT value->>'userId' AS user_id, count(*)::int AS memories, sum(size_bytes)::bigint AS bytes,
              max(updated_at) AS last_updated_at
       FROM state_records WHERE tenant = $1 AND ${NS} AND ${live("now()")}
       GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $2`,
      tenant,
      limit,
    );
    return rows.map((r) => ({
      userId: r.user_id,
      memories: Number(r.memories),
      bytes: Number(r.bytes),
      lastUpdatedAt: new Date(r.last_updated_at),
    }));
  }

  async count(tenant: string, userId: string): Promise<number> {
    const [row] = await this.sql.$queryRawUnsafe<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM state_records WHERE ${OF_USER}`,
      tenant,
      userId,
    );
    return Number(row?.n ?? 0);
  }

  /** A page of the user's memories, most recently changed first; `after` continues from a row. */
  async page(
    tenant: string,
    userId: string,
    limit: number,
    after?: { updatedAt: Date; key: string },
  ): Promise<StateRecord[]> {
    const rows = await this.sql.$queryRawUnsafe<(RecordRow & { key: string })[]>(
      `SELECT key, ${RECORD_COLUMNS} FROM state_records WHERE ${OF_USER}
       ${after ? "AND (updated_at, key) < ($4::timestamptz, $5)" : ""}
       ORDER BY updated_at DESC, key DESC LIMIT $3`,
      tenant,
      userId,
      limit,
      ...(after ? [after.updatedAt, after.key] : []),
    );
    return rows.map((r) => toRecord({ tenant, namespace: MEMORIES_NAMESPACE, key: r.key }, r));
  }

  /**
   * Memories whose text matches any of `terms` (English stemming), best first by ts_rank_cd. Terms are
   * words of letters and digits only (the caller's sanitizing), OR-ed: a question's words need not all be there.
   */
  async fullText(
    tenant: string,
    userId: string,
    terms: readonly string[],
    limit: number,
    filter: MemoryFilter = {},
  ): Promise<{ key: string; rank: number }[]> {
    if (terms.length === 0) return [];
    const where = filtered(filter, 5);
    const rows = await this.sql.$queryRawUnsafe<{ key: string; rank: number }[]>(
      `SELECT key, ts_rank_cd(search_text, q) AS rank
       FROM state_records, to_tsquery('english'::regconfig, $3) AS q
       WHERE ${OF_USER} AND search_text @@ q${where.sql}
       ORDER BY rank DESC, key LIMIT $4`,
      tenant,
      userId,
      terms.map((t) => `'${t}'`).join(" | "),
      limit,
      ...where.params,
    );
    return rows.map((r) => ({ key: r.key, rank: Number(r.rank) }));
  }

  /** The vectors of the user's memories (at most `limit`): what the exact cosine scan compares. */
  async vectors(
    tenant: string,
    userId: string,
    limit: number,
    filter: MemoryFilter = {},
  ): Promise<{ key: string; model: string | null; vector: string | null; text: string }[]> {
    const where = filtered(filter, 4);
    return this.sql.$queryRawUnsafe(
      `SELECT key, value->'embedding'->>'model' AS model, value->'embedding'->>'vector' AS vector,
              value->>'text' AS text
       FROM state_records WHERE ${OF_USER}${where.sql} LIMIT $3`,
      tenant,
      userId,
      limit,
      ...where.params,
    );
  }
}
