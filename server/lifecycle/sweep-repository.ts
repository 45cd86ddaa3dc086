// The sweeper's SQL over the warm tier: expiries, archive candidates, and purges of what is long gone.
import type { PrismaClient } from "../db/generated/client";
import { live, RECORD_COLUMNS, type RecordRow, stored, toRecord } from "../db/state-records";
import { refKey, type StateRecord, type StateRef } from "../state/store";

export interface SweptRow {
  tenant: string;
  record: StateRecord;
}

export type SweptKey = { tenant: string; namespace: string; key: string; version: number };

/** Each query is one statement, safe with several instances sweeping at once. */
export class SweepRepository {
  constructor(private readonly prisma: Pick<PrismaClient, "$queryRawUnsafe">) {}

  /** Rows still present whose expiry has passed, oldest expiry first: candidates for the sweeper. */
  async expiredCandidates(limit: number, namespaces?: readonly string[]): Promise<SweptRow[]> {
    const rows = await this.prisma.$queryRawUnsafe<(RecordRow & { tenant: string; namespace: string; key: string })[]>(
      `SELECT tenant, namespace, key, ${RECORD_COLUMNS}
       FROM state_records WHERE ${stored()} AND expires_at <= $1 AND ($3::text[] IS NULL OR namespace = ANY($3::text[]))
       ORDER BY expires_at LIMIT $2`,
      new Date(),
      limit,
      namespaces ?? null,
    );
    return rows.map((r) => ({
      tenant: r.tenant,
      record: toRecord({ tenant: r.tenant, namespace: r.namespace, key: r.key }, r),
    }));
  }

  /**
   * Turns expired records into tombstones (version + 1, value gone, a `delete` history entry by
   * `actor` and an outbox event), only where each is still at the version given and still expired:
   * with two sweepers racing, each record is expired by exactly one, and this returns only those.
   */
  async expire(rows: readonly SweptKey[], actor = "lifecycle:expired"): Promise<SweptKey[]> {
    if (rows.length === 0) return [];
    return this.prisma.$queryRawUnsafe<SweptKey[]>(
      `WITH target AS (
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[]) AS t(tenant, namespace, key, version)
       ),
       up AS (
         UPDATE state_records r SET version = r.version + 1, deleted = true, value = 'null'::json, size_bytes = 0,
           updated_at = $5, expires_at = NULL, idle_ttl_seconds = NULL
         FROM target t
         WHERE r.tenant = t.tenant AND r.namespace = t.namespace AND r.key = t.key AND r.version = t.version
           AND ${stored("r")} AND r.expires_at <= $5
         RETURNING r.tenant, r.namespace, r.key, r.version, r.schema_version
       ),
       h AS (
         INSERT INTO state_history
           (tenant, namespace, key, version, operation, actor, value, schema_version, size_bytes, created_at)
         SELECT tenant, namespace, key, version, 'delete', $6::text, NULL, schema_version, 0, $5 FROM up
       ),
       o AS (
         INSERT INTO outbox_events (tenant, namespace, key, version, operation, payload, created_at)
         SELECT tenant, namespace, key, version, 'delete',
           json_build_object('namespace', namespace, 'key', key, 'version', version, 'operation', 'delete',
             'reason', 'expired', 'at', $5::timestamptz),
           $5 FROM up
       )
       SELECT tenant, namespace, key, version FROM up`,
      rows.map((r) => r.tenant),
      rows.map((r) => r.namespace),
      rows.map((r) => r.key),
      rows.map((r) => r.version),
      new Date(),
      actor,
    );
  }

  /**
   * Forgets records long gone: tombstones older than `before` with their history, and history rows
   * whose record no longer exists at all. Returns how many of each, at most `limit` each. (Published
   * outbox events have their own owner: OutboxRepository.purgePublished.)
   */
  async purgeOrphans(before: Date, limit: number): Promise<{ tombstones: number; history: number }> {
    const rows = await this.prisma.$queryRawUnsafe<{ tombstones: number; history: number }[]>(
      `WITH gone AS (
         DELETE FROM state_records WHERE ctid IN (
           SELECT ctid FROM state_records WHERE deleted AND updated_at < $1 LIMIT $2
         ) RETURNING tenant, namespace, key
       ),
       gone_history AS (
         DELETE FROM state_history h USING gone g
         WHERE h.tenant = g.tenant AND h.namespace = g.namespace AND h.key = g.key RETURNING 1
       ),
       orphan_history AS (
         DELETE FROM state_history WHERE ctid IN (
           SELECT h.ctid FROM state_history h
           WHERE NOT EXISTS (
             SELECT 1 FROM state_records r WHERE r.tenant = h.tenant AND r.namespace = h.namespace AND r.key = h.key
           )
           LIMIT $2
         ) RETURNING 1
       )
       SELECT (SELECT count(*) FROM gone)::int AS tombstones,
              (SELECT count(*) FROM orphan_history)::int AS history`,
      before,
      limit,
    );
    const r = rows[0]!;
    return { tombstones: Number(r.tombstones), history: Number(r.history) };
  }

  /** Live records of a namespace not written since `before`, oldest first: candidates to move to the archive. */
  async archiveCandidates(namespace: string, before: Date, limit: number): Promise<SweptRow[]> {
    const rows = await this.prisma.$queryRawUnsafe<(RecordRow & { tenant: string; namespace: string; key: string })[]>(
      `SELECT tenant, namespace, key, ${RECORD_COLUMNS}
       FROM state_records WHERE namespace = $1 AND updated_at < $2 AND ${live("now()")}
       ORDER BY updated_at LIMIT $3`,
      namespace,
      before,
      limit,
    );
    return rows.map((r) => ({
      tenant: r.tenant,
      record: toRecord({ tenant: r.tenant, namespace: r.namespace, key: r.key }, r),
    }));
  }

  /** Which of these keys have a row (live or tombstone) in warm, with its version. */
  async versionsOf(refs: readonly StateRef[]): Promise<Map<string, number>> {
    if (refs.length === 0) return new Map();
    const rows = await this.prisma.$queryRawUnsafe<
      { tenant: string; namespace: string; key: string; version: number }[]
    >(
      `SELECT r.tenant, r.namespace, r.key, r.version FROM state_records r
       JOIN unnest($1::text[], $2::text[], $3::text[]) AS t(tenant, namespace, key)
         ON r.tenant = t.tenant AND r.namespace = t.namespace AND r.key = t.key`,
      refs.map((r) => r.tenant),
      refs.map((r) => r.namespace),
      refs.map((r) => r.key),
    );
    return new Map(rows.map((r) => [refKey(r), r.version]));
  }
}
