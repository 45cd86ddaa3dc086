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

  /**
   * What changes whenever the user's live memories do (a write, a delete, an expiry): their count, the sum
   * of their versions and their latest change. UserVectorCache compares it with the one its vectors came with.
   */
  async vectorStamp(tenant: string, userId: string): Promise<string> {
    const [row] = await this.sql.$queryRawUnsafe<{ n: number; versions: bigint | number; latest: Date | null }[]>(
      `SELECT count(*)::int AS n, coalesce(sum(version), 0)::bigint AS versions, max(updated_at) AS latest
       FROM state_records WHERE ${OF_USER}`,
      tenant,
      userId,
    );
    return stampOf(Number(row?.n ?? 0), Number(row?.versions ?? 0), row?.latest ?? null);
  }

  /** The user's live memories' keys, versions and last changes (at most `limit`): what a cache compares. */
  async versions(tenant: string, userId: string, limit: number): Promise<MemoryVersion[]> {
    const rows = await this.sql.$queryRawUnsafe<{ key: string; version: number; updated_at: Date }[]>(
      `SELECT key, version, updated_at FROM state_records WHERE ${OF_USER} LIMIT $3`,
      tenant,
      userId,
      limit,
    );
    return rows.map((r) => ({ key: r.key, version: r.version, updatedAt: new Date(r.updated_at).getTime() }));
  }

  /**
   * The vectors of the user's live memories among `keys` (all of them when absent; at most `limit`); a
   * vector made by another model than `model` comes as null, with the text to embed again.
   */
  async vectors(
    tenant: string,
    userId: string,
    limit: number,
    model: string,
    keys?: readonly string[],
  ): Promise<(MemoryVersion & { kind: string; agent: string | null; vector: string | null; text: string | null })[]> {
    const rows = await this.sql.$queryRawUnsafe<
      {
        key: string;
        version: number;
        updated_at: Date;
        kind: string;
        agent: string | null;
        vector: string | null;
        text: string | null;
      }[]
    >(
      // Each -> on a json value parses all of it again: the value is parsed once, to jsonb, per row.
      `SELECT key, version, updated_at, v->>'kind' AS kind, v->>'agent' AS agent,
              CASE WHEN v->'embedding'->>'model' = $4 THEN v->'embedding'->>'vector' END AS vector,
              CASE WHEN v->'embedding'->>'model' = $4 AND v->'embedding'->>'vector' IS NOT NULL THEN NULL
                   ELSE v->>'text' END AS text
       FROM state_records, LATERAL (SELECT value::jsonb AS v) parsed
       WHERE ${OF_USER}${keys ? " AND key = ANY($5::text[])" : ""} LIMIT $3`,
      tenant,
      userId,
      limit,
      model,
      ...(keys ? [[...keys]] : []),
    );
    return rows.map((r) => ({ ...r, updatedAt: new Date(r.updated_at).getTime() }));
  }
}

/** A memory's identity as a cache compares it: a key never has one version with two last changes. */
export interface MemoryVersion {
  key: string;
  version: number;
  /** ms since the epoch */
  updatedAt: number;
}

/** The stamp of the memories a cache holds, computed as vectorStamp() computes it in SQL. */
export function stampOfMemories(memories: readonly MemoryVersion[]): string {
  let versions = 0;
  let latest = 0;
  for (const m of memories) {
    versions += m.version;
    if (m.updatedAt > latest) latest = m.updatedAt;
  }
  return `${memories.length}:${versions}:${latest}`;
}

function stampOf(count: number, versions: number, latest: Date | null): string {
  return `${count}:${versions}:${latest ? new Date(latest).getTime() : 0}`;
}
