// The Store API's SQL: items under a namespace prefix (filtered by value fields), their full-text
// matches and vectors, and the namespaces in use, read from state_records (the warm tier) through the
// partial text index of migration 20261206000000_memory_search.
import { live, RECORD_COLUMNS, type RecordRow, type Sql, toRecord } from "../db/state-records";
import type { StateRecord } from "../state/store";
import { STORE_NAMESPACE } from "./namespaces";

/** Items of the tenant whose record key starts with `prefix` (a namespace path's encoding), live. */
const UNDER = `tenant = $1 AND namespace = '${STORE_NAMESPACE}' AND left(key, length($2)) = $2 AND ${live("now()")}`;

/** Equality on top-level fields of an item's value: `{field: JSON value}`. */
export type ValueFilter = Record<string, unknown>;

function filtered(filter: ValueFilter, first: number): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  let sql = "";
  for (const [field, expected] of Object.entries(filter)) {
    params.push(field, JSON.stringify(expected));
    sql += ` AND (value->'value'->$${first + params.length - 2}::text)::jsonb = $${first + params.length - 1}::jsonb`;
  }
  return { sql, params };
}

export class StoreRepository {
  constructor(private readonly sql: Sql) {}

  /** Keys (with their sizes) of items under `prefix`, most recently changed first. */
  async items(
    tenant: string,
    prefix: string,
    filter: ValueFilter,
    limit: number,
    offset: number,
  ): Promise<{ key: string; size: number }[]> {
    const where = filtered(filter, 5);
    const rows = await this.sql.$queryRawUnsafe<{ key: string; size: number }[]>(
      `SELECT key, size_bytes AS size FROM state_records WHERE ${UNDER}${where.sql}
       ORDER BY updated_at DESC, key LIMIT $3 OFFSET $4`,
      tenant,
      prefix,
      limit,
      offset,
      ...where.params,
    );
    return rows.map((r) => ({ key: r.key, size: Number(r.size) }));
  }

  /** The sizes of the live records of `keys`. */
  async sizes(tenant: string, keys: readonly string[]): Promise<Map<string, number>> {
    if (keys.length === 0) return new Map();
    const rows = await this.sql.$queryRawUnsafe<{ key: string; size: number }[]>(
      `SELECT key, size_bytes AS size FROM state_records
       WHERE tenant = $1 AND namespace = '${STORE_NAMESPACE}' AND key = ANY($2::text[]) AND ${live("now()")}`,
      tenant,
      [...keys],
    );
    return new Map(rows.map((r) => [r.key, Number(r.size)]));
  }

  /** The records of `keys` (search results), in no particular order. */
  async records(tenant: string, keys: readonly string[]): Promise<StateRecord[]> {
    if (keys.length === 0) return [];
    const rows = await this.sql.$queryRawUnsafe<(RecordRow & { key: string })[]>(
      `SELECT key, ${RECORD_COLUMNS} FROM state_records
       WHERE tenant = $1 AND namespace = '${STORE_NAMESPACE}' AND key = ANY($2::text[]) AND ${live("now()")}`,
      tenant,
      [...keys],
    );
    return rows.map((r) => toRecord({ tenant, namespace: STORE_NAMESPACE, key: r.key }, r));
  }

  /** Items under `prefix` whose indexed text matches any of `terms`, best first. */
  async fullText(
    tenant: string,
    prefix: string,
    terms: readonly string[],
    filter: ValueFilter,
    limit: number,
  ): Promise<{ key: string }[]> {
    if (terms.length === 0) return [];
    const where = filtered(filter, 5);
    return this.sql.$queryRawUnsafe(
      `SELECT key FROM state_records, to_tsquery('english'::regconfig, $3) AS q
       WHERE ${UNDER} AND search_text @@ q${where.sql}
       ORDER BY ts_rank_cd(search_text, q) DESC, key LIMIT $4`,
      tenant,
      prefix,
      terms.map((t) => `'${t}'`).join(" | "),
      limit,
      ...where.params,
    );
  }

  /** The vectors of indexed items under `prefix` (at most `limit`): the exact cosine scan's candidates. */
  async vectors(
    tenant: string,
    prefix: string,
    filter: ValueFilter,
    limit: number,
  ): Promise<{ key: string; model: string | null; vector: string | null; text: string }[]> {
    const where = filtered(filter, 4);
    return this.sql.$queryRawUnsafe(
      // Each -> on a json value parses all of it again: it is parsed once, to jsonb, per row.
      `SELECT key, v->'embedding'->>'model' AS model, v->'embedding'->>'vector' AS vector, v->>'text' AS text
       FROM state_records, LATERAL (SELECT value::jsonb AS v) parsed
       WHERE ${UNDER} AND value->>'text' <> ''${where.sql} LIMIT $3`,
      tenant,
      prefix,
      limit,
      ...where.params,
    );
  }

  /** The distinct namespace paths of items under `prefix` (at most `limit`). */
  async namespaces(tenant: string, prefix: string, limit: number): Promise<string[][]> {
    const rows = await this.sql.$queryRawUnsafe<{ ns: string }[]>(
      // From the key (the JSON of the path and the item's key: its last element dropped), never the value.
      `SELECT DISTINCT (key::jsonb - -1)::text AS ns FROM state_records WHERE ${UNDER} ORDER BY 1 LIMIT $3`,
      tenant,
      prefix,
      limit,
    );
    return rows.map((r) => JSON.parse(r.ns) as string[]);
  }
}
