// The state_records table as SQL sees it: the one definition of a live row, and its row-to-record mapping.
import type { StateRecord, StateRef } from "../state/store";

/**
 * Present in warm: neither a tombstone nor a slim row left behind by a move to the archive. Alone it
 * still includes expired rows (what the sweeper looks for); `live()` adds the expiry.
 */
export function stored(alias?: string): string {
  const c = alias ? `${alias}.` : "";
  return `NOT ${c}deleted AND NOT ${c}archived`;
}

/**
 * The one definition of a live row of state_records: not deleted, not archived, not expired at `now`
 * (a SQL expression: a parameter such as `$4`, or `now()`). Every query that means "the tenant's
 * records" uses it, so none can forget a condition (archived rows once counted toward quotas and
 * active sessions because two queries spelled it by hand).
 */
export function live(now: string, alias?: string): string {
  const c = alias ? `${alias}.` : "";
  return `${stored(alias)} AND (${c}expires_at IS NULL OR ${c}expires_at > ${now})`;
}

/** The columns a StateRecord is read from; values as text (adapters differ in how they hand back json). */
export const RECORD_COLUMNS =
  "value::text AS value, version, schema_version, created_at, updated_at, expires_at, size_bytes, idle_ttl_seconds";

export interface RecordRow {
  value: unknown;
  version: number;
  schema_version: number;
  created_at: Date;
  updated_at: Date;
  expires_at: Date | null;
  size_bytes: number;
  idle_ttl_seconds?: number | null;
}

export function toRecord(ref: StateRef, r: RecordRow): StateRecord {
  return {
    namespace: ref.namespace,
    key: ref.key,
    value: parseJson(r.value),
    version: r.version,
    schemaVersion: r.schema_version,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    expiresAt: r.expires_at,
    sizeBytes: r.size_bytes,
    idleTtlSeconds: r.idle_ttl_seconds === null || r.idle_ttl_seconds === undefined ? null : Number(r.idle_ttl_seconds),
  };
}

/** Values are selected as text (`value::text`): adapters differ in how they hand back json columns. */
export function parseJson(v: unknown): unknown {
  return JSON.parse(v as string);
}

/** The Prisma client's raw-query method: what a repository of single statements needs. */
export type Sql = { $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T> };
