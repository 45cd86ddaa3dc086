import { inOperation, VersionConflictError } from "./errors";
import {
  type Capability,
  type DeleteResult,
  type HistoryEntry,
  type HistoryOptions,
  type ListOptions,
  type ListPage,
  type NamespaceStats,
  type StateRecord,
  type StateRef,
  type StateStore,
  type TransactionOp,
  type TransactionResult,
  type WriteOptions,
  decodeCursor,
  encodeValue,
  expiryOf,
  LIMITS,
  listLimit,
  refKey,
  toPage,
  unsupported,
  validateNamespaceName,
  validateRef,
  validateWriteOptions,
} from "./store";
import { InvalidError } from "./errors";
import type { PrismaClient } from "../db/generated/client";
import { openWarmDatabase, type WarmDatabase } from "../db/warm-database";

/** The part of Prisma's client this store uses: raw SQL, so each operation is one round trip. */
type Sql = { $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T> };

interface RecordRow {
  value: unknown;
  version: number;
  schema_version: number;
  created_at: Date;
  updated_at: Date;
  expires_at: Date | null;
  size_bytes: number;
  idle_ttl_seconds?: number | null;
}

/** How many of the newest outbox events a per-tenant view of the outbox looks through. */
const RECENT_OUTBOX_SCAN = 10_000;
const LIVE = `NOT deleted AND NOT archived AND (expires_at IS NULL OR expires_at > $4)`;

// One statement writes the record, its history entry and its outbox event, so a durable write is one
// round trip and the three can never disagree. Parameters:
// $1 tenant $2 namespace $3 key $4 now $5 value json $6 schemaVersion $7 expiresAt $8 size $9 actor $10 idleTtl $11 ifVersion
const HISTORY_CTE = `h AS (
    INSERT INTO state_history (tenant, namespace, key, version, operation, actor, value, schema_version, size_bytes, created_at)
    SELECT $1, $2, $3, version, 'put', $9::text, $5::json, $6, $8, $4 FROM up
  ),`;
const WRITE_TAIL = `,
  ${HISTORY_CTE}
  o AS (
    INSERT INTO outbox_events (tenant, namespace, key, version, operation, payload, created_at)
    SELECT $1, $2, $3, version, 'put',
      json_build_object('namespace', $2::text, 'key', $3::text, 'version', version, 'operation', 'put', 'sizeBytes', $8::int, 'at', $4::timestamptz),
      $4 FROM up
  )
SELECT version, created_at FROM up`;

const UPSERT = (guard: string) => `
WITH up AS (
  INSERT INTO state_records AS r (tenant, namespace, key, value, version, schema_version, created_at, updated_at, expires_at, size_bytes, deleted, idle_ttl_seconds)
  VALUES ($1, $2, $3, $5::json, 1, $6, $4, $4, $7, $8, false, $10::float8)
  ON CONFLICT (tenant, namespace, key) DO UPDATE SET
    value = EXCLUDED.value, version = r.version + 1, schema_version = EXCLUDED.schema_version,
    created_at = CASE WHEN r.deleted OR (r.expires_at IS NOT NULL AND r.expires_at <= $4) THEN $4 ELSE r.created_at END,
    updated_at = $4, expires_at = EXCLUDED.expires_at, size_bytes = EXCLUDED.size_bytes, deleted = false,
    idle_ttl_seconds = EXCLUDED.idle_ttl_seconds, archived = false
  ${guard}
  RETURNING r.version, r.created_at
)${WRITE_TAIL}`;

const PUT_ANY = UPSERT("");
const PUT_CREATE = UPSERT(`WHERE r.deleted OR (r.expires_at IS NOT NULL AND r.expires_at <= $4)`);
const PUT_IF_VERSION = `
WITH up AS (
  UPDATE state_records SET value = $5::json, version = version + 1, schema_version = $6, updated_at = $4,
    expires_at = $7, size_bytes = $8, idle_ttl_seconds = $10::float8
  WHERE tenant = $1 AND namespace = $2 AND key = $3 AND ${LIVE} AND version = $11::int
  RETURNING version, created_at
)${WRITE_TAIL}`;

// Writes with `history: false` (records written once, e.g. LangGraph checkpoints) keep the statement's
// shape but record no history entry; the stand-in CTE keeps $9 typed.
const WITHOUT_HISTORY = new Map(
  [PUT_ANY, PUT_CREATE, PUT_IF_VERSION].map((sql) => [
    sql,
    sql.replace(HISTORY_CTE, "h AS (SELECT $9::text AS actor),"),
  ]),
);

const DELETE = `
WITH up AS (
  UPDATE state_records SET version = version + 1, deleted = true, value = 'null'::json, size_bytes = 0, updated_at = $4, expires_at = NULL, idle_ttl_seconds = NULL
  WHERE tenant = $1 AND namespace = $2 AND key = $3 AND ${LIVE} AND ($5::int IS NULL OR version = $5::int)
  RETURNING version, schema_version
),
  h AS (
    INSERT INTO state_history (tenant, namespace, key, version, operation, actor, value, schema_version, size_bytes, created_at)
    SELECT $1, $2, $3, version, 'delete', $6::text, NULL, schema_version, 0, $4 FROM up
  ),
  o AS (
    INSERT INTO outbox_events (tenant, namespace, key, version, operation, payload, created_at)
    SELECT $1, $2, $3, version, 'delete',
      json_build_object('namespace', $2::text, 'key', $3::text, 'version', version, 'operation', 'delete', 'at', $4::timestamptz),
      $4 FROM up
  )
SELECT version FROM up`;

/** SQLSTATE class 22 (data exception: out of range, bad encoding, ...) comes from a value, not from the database's health. */
export function dataExceptionAsInvalid(err: unknown): never {
  const code = (err as { meta?: { driverAdapterError?: { cause?: { originalCode?: string } }; code?: string } })?.meta;
  // Through Prisma's adapter the SQLSTATE sits in meta; straight from pg it is the error's own code.
  const pgCode = (err as { code?: unknown })?.code;
  const sqlState =
    code?.driverAdapterError?.cause?.originalCode ??
    code?.code ??
    (typeof pgCode === "string" && /^[0-9A-Z]{5}$/.test(pgCode) ? pgCode : undefined);
  if (typeof sqlState === "string" && sqlState.startsWith("22"))
    throw new InvalidError("a value is out of range or not representable", { sqlState });
  throw err;
}

/**
 * The warm tier: PostgreSQL through the Prisma client, on a server (adapter-pg) or embedded (PGlite).
 * The source of truth for durable namespaces. Every operation is a single SQL statement.
 */
export class PostgresStore implements StateStore {
  readonly capabilities: ReadonlySet<Capability> = new Set<Capability>([
    "ttl",
    "list",
    "history",
    "transactions",
    "import",
  ]);

  constructor(
    readonly prisma: PrismaClient,
    readonly name: "postgres" | "pglite" = "postgres",
    private readonly onClose: () => Promise<void> = () => prisma.$disconnect(),
    /** Where single statements go: the pg pool directly when there is one, else Prisma. Transactions use Prisma. */
    private readonly sql: Sql = prisma,
  ) {
    // Every state operation maps data exceptions to `invalid`, so bad input cannot trip the breaker.
    for (const method of [
      "get",
      "put",
      "delete",
      "list",
      "history",
      "getVersion",
      "transact",
      "importRecord",
      "dropArchived",
    ] as const) {
      const original = this[method].bind(this) as (...a: unknown[]) => Promise<unknown>;
      (this as unknown as Record<string, unknown>)[method] = (...args: unknown[]) =>
        original(...args).catch(dataExceptionAsInvalid);
    }
  }

  /** Opens PostgreSQL at `url`, or PGlite under `pgliteDir`, applying pending migrations first. */
  static async open(
    target: { url: string } | { pgliteDir: string },
    options: { migrate?: boolean } = {},
  ): Promise<PostgresStore> {
    const db: WarmDatabase = await openWarmDatabase(target, options);
    return new PostgresStore(db.prisma, db.kind, db.close, db.direct);
  }

  async get(ref: StateRef): Promise<StateRecord | undefined> {
    validateRef(ref);
    const rows = await this.sql.$queryRawUnsafe<RecordRow[]>(
      `SELECT value::text AS value, version, schema_version, created_at, updated_at, expires_at, size_bytes, idle_ttl_seconds FROM state_records
       WHERE tenant = $1 AND namespace = $2 AND key = $3 AND ${LIVE}`,
      ref.tenant,
      ref.namespace,
      ref.key,
      new Date(),
    );
    return rows[0] && toRecord(ref, rows[0]);
  }

  async put(ref: StateRef, value: unknown, options: WriteOptions = {}): Promise<StateRecord> {
    return putWith(this.sql, ref, value, options);
  }

  async delete(ref: StateRef, options: Pick<WriteOptions, "ifVersion" | "actor"> = {}): Promise<DeleteResult> {
    return deleteWith(this.sql, ref, options);
  }

  async touch(ref: StateRef, version: number): Promise<Date | undefined> {
    validateRef(ref);
    const now = new Date();
    // GREATEST: two instances touching at once never move the expiry backwards.
    const rows = await this.prisma.$queryRawUnsafe<{ expires_at: Date }[]>(
      `UPDATE state_records SET expires_at = GREATEST(expires_at, $4 + make_interval(secs => idle_ttl_seconds))
       WHERE tenant = $1 AND namespace = $2 AND key = $3 AND ${LIVE} AND version = $5 AND idle_ttl_seconds IS NOT NULL
       RETURNING expires_at`,
      ref.tenant,
      ref.namespace,
      ref.key,
      now,
      version,
    );
    return rows[0]?.expires_at;
  }

  async list(tenant: string, namespace: string, options: ListOptions = {}): Promise<ListPage> {
    validateNamespaceName(namespace);
    const limit = listLimit(options);
    const after = decodeCursor(options.cursor);
    const rows = await this.sql.$queryRawUnsafe<
      { key: string; version: number; updated_at: Date; expires_at: Date | null; size_bytes: number }[]
    >(
      `SELECT key, version, updated_at, expires_at, size_bytes FROM state_records
       WHERE tenant = $1 AND namespace = $2 AND ${LIVE} AND starts_with(key, $3) AND ($5::text IS NULL OR key > $5::text)
       ORDER BY key LIMIT $6`,
      tenant,
      namespace,
      options.prefix ?? "",
      new Date(),
      after ?? null,
      limit + 1,
    );
    return toPage(
      rows.map((r) => ({
        key: r.key,
        version: r.version,
        updatedAt: r.updated_at,
        expiresAt: r.expires_at,
        sizeBytes: r.size_bytes,
      })),
      limit,
    );
  }

  async history(ref: StateRef, options: HistoryOptions = {}): Promise<HistoryEntry[]> {
    validateRef(ref);
    const limit = listLimit({ limit: options.limit });
    if (
      options.before !== undefined &&
      (!Number.isSafeInteger(options.before) || options.before < 1 || options.before > LIMITS.maxVersion + 1)
    ) {
      throw new InvalidError("before must be a positive integer", { field: "before" });
    }
    const rows = await this.sql.$queryRawUnsafe<HistoryRow[]>(
      `SELECT version, operation, actor, value::text AS value, schema_version, size_bytes, created_at FROM state_history
       WHERE tenant = $1 AND namespace = $2 AND key = $3 AND ($4::int IS NULL OR version < $4::int)
       ORDER BY version DESC LIMIT $5`,
      ref.tenant,
      ref.namespace,
      ref.key,
      options.before ?? null,
      limit,
    );
    return rows.map(toHistory);
  }

  async getVersion(ref: StateRef, version: number): Promise<HistoryEntry | undefined> {
    validateRef(ref);
    if (!Number.isSafeInteger(version) || version < 1)
      throw new InvalidError("version must be a positive integer", { field: "version" });
    if (version > LIMITS.maxVersion) return undefined;
    const rows = await this.sql.$queryRawUnsafe<HistoryRow[]>(
      `SELECT version, operation, actor, value::text AS value, schema_version, size_bytes, created_at FROM state_history
       WHERE tenant = $1 AND namespace = $2 AND key = $3 AND version = $4`,
      ref.tenant,
      ref.namespace,
      ref.key,
      version,
    );
    return rows[0] && toHistory(rows[0]);
  }

  async transact(ops: readonly TransactionOp[]): Promise<TransactionResult[]> {
    return this.prisma.$transaction(async (tx) => {
      const results: TransactionResult[] = [];
      for (const [i, op] of ops.entries()) {
        try {
          results.push(
            op.op === "put"
              ? { op: "put", record: await putWith(tx, op.ref, op.value, op.options ?? {}) }
              : { op: "delete", result: await deleteWith(tx, op.ref, op.options ?? {}) },
          );
        } catch (err) {
          throw inOperation(err, i); // which operation failed (its 412 names it); the transaction rolls back
        }
      }
      return results;
    });
  }

  async setIfNewer(): Promise<never> {
    unsupported(this.name, "cache");
  }

  async importRecord(tenant: string, record: StateRecord, history: readonly HistoryEntry[] = []): Promise<boolean> {
    const ref = { tenant, namespace: record.namespace, key: record.key };
    validateRef(ref);
    return this.prisma.$transaction(async (tx) => {
      const written = await tx.$queryRawUnsafe<{ version: number }[]>(
        `INSERT INTO state_records AS r (tenant, namespace, key, value, version, schema_version, created_at, updated_at, expires_at, size_bytes, deleted, idle_ttl_seconds)
         VALUES ($1, $2, $3, $4::json, $5, $6, $7, $8, $9, $10, false, $11::float8)
         ON CONFLICT (tenant, namespace, key) DO UPDATE SET value = EXCLUDED.value, version = EXCLUDED.version,
           schema_version = EXCLUDED.schema_version, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,
           expires_at = EXCLUDED.expires_at, size_bytes = EXCLUDED.size_bytes, deleted = false, idle_ttl_seconds = EXCLUDED.idle_ttl_seconds,
           archived = false
         WHERE r.version < EXCLUDED.version OR (r.version = EXCLUDED.version AND r.archived)
         RETURNING version`,
        tenant,
        record.namespace,
        record.key,
        JSON.stringify(record.value),
        record.version,
        record.schemaVersion,
        record.createdAt,
        record.updatedAt,
        record.expiresAt,
        record.sizeBytes,
        record.idleTtlSeconds ?? null,
      );
      if (written.length === 0) return false;
      for (const h of history) {
        await tx.$queryRawUnsafe(
          `INSERT INTO state_history (tenant, namespace, key, version, operation, actor, value, schema_version, size_bytes, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7::json, $8, $9, $10) ON CONFLICT DO NOTHING`,
          tenant,
          record.namespace,
          record.key,
          h.version,
          h.operation,
          h.actor,
          h.value === null ? null : JSON.stringify(h.value),
          h.schemaVersion,
          h.sizeBytes,
          h.at,
        );
      }
      return true;
    });
  }

  async dropArchived(ref: StateRef, version: number): Promise<boolean> {
    validateRef(ref);
    if (!Number.isSafeInteger(version) || version < 1)
      throw new InvalidError("version must be a positive integer", { field: "version" });
    // One statement: the record is emptied into a slim row marked `archived` only at exactly this
    // version, and its history goes only if it was. The row keeps the key's version count (a write
    // before any restore continues it, never starting again at 1), is never served (LIVE excludes it),
    // counts as existing for create-only writes (the tiered store restores before answering), and lets
    // importRecord restore over it.
    const rows = await this.prisma.$queryRawUnsafe<{ dropped: number }[]>(
      `WITH r AS (
         UPDATE state_records SET archived = true, value = 'null'::json, size_bytes = 0, expires_at = NULL, idle_ttl_seconds = NULL
         WHERE tenant = $1 AND namespace = $2 AND key = $3 AND version = $4 AND NOT deleted AND NOT archived RETURNING version
       ),
       h AS (
         DELETE FROM state_history WHERE tenant = $1 AND namespace = $2 AND key = $3 AND EXISTS (SELECT 1 FROM r)
       )
       SELECT count(*)::int AS dropped FROM r`,
      ref.tenant,
      ref.namespace,
      ref.key,
      version,
    );
    return Number(rows[0]?.dropped ?? 0) > 0;
  }

  async stats(): Promise<NamespaceStats[]> {
    const rows = await this.sql.$queryRawUnsafe<{ namespace: string; keys: number; bytes: number }[]>(
      `SELECT namespace, count(*)::int AS keys, coalesce(sum(size_bytes), 0)::float8 AS bytes FROM state_records
       WHERE NOT deleted AND NOT archived AND (expires_at IS NULL OR expires_at > $1) GROUP BY namespace`,
      new Date(),
    );
    return rows.map((r) => ({ namespace: r.namespace, keys: Number(r.keys), bytes: Number(r.bytes) }));
  }

  // ---- Lifecycle (the sweeper's queries). Each is one statement, safe with several instances at once.

  /** Live-looking rows whose expiry has passed, oldest expiry first: candidates for the sweeper. */
  async expiredCandidates(limit: number, namespaces?: readonly string[]): Promise<ExpiredRow[]> {
    const rows = await this.prisma.$queryRawUnsafe<(RecordRow & { tenant: string; namespace: string; key: string })[]>(
      `SELECT tenant, namespace, key, value::text AS value, version, schema_version, created_at, updated_at, expires_at, size_bytes, idle_ttl_seconds
       FROM state_records WHERE NOT deleted AND NOT archived AND expires_at <= $1 AND ($3::text[] IS NULL OR namespace = ANY($3::text[]))
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
  async expire(
    rows: readonly { tenant: string; namespace: string; key: string; version: number }[],
    actor = "lifecycle:expired",
  ): Promise<{ tenant: string; namespace: string; key: string; version: number }[]> {
    if (rows.length === 0) return [];
    return this.prisma.$queryRawUnsafe<{ tenant: string; namespace: string; key: string; version: number }[]>(
      `WITH target AS (
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[]) AS t(tenant, namespace, key, version)
       ),
       up AS (
         UPDATE state_records r SET version = r.version + 1, deleted = true, value = 'null'::json, size_bytes = 0,
           updated_at = $5, expires_at = NULL, idle_ttl_seconds = NULL
         FROM target t
         WHERE r.tenant = t.tenant AND r.namespace = t.namespace AND r.key = t.key AND r.version = t.version
           AND NOT r.deleted AND NOT r.archived AND r.expires_at <= $5
         RETURNING r.tenant, r.namespace, r.key, r.version, r.schema_version
       ),
       h AS (
         INSERT INTO state_history (tenant, namespace, key, version, operation, actor, value, schema_version, size_bytes, created_at)
         SELECT tenant, namespace, key, version, 'delete', $6::text, NULL, schema_version, 0, $5 FROM up
       ),
       o AS (
         INSERT INTO outbox_events (tenant, namespace, key, version, operation, payload, created_at)
         SELECT tenant, namespace, key, version, 'delete',
           json_build_object('namespace', namespace, 'key', key, 'version', version, 'operation', 'delete', 'reason', 'expired', 'at', $5::timestamptz),
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
   * Forgets records long gone: tombstones older than `before` with their history, history rows whose
   * record no longer exists at all, and published outbox events older than `before` (unpublished ones
   * are never removed: nothing acknowledged is lost). Returns how many of each, at most `limit` each.
   */
  async purgeOrphans(before: Date, limit: number): Promise<{ tombstones: number; history: number; outbox: number }> {
    const rows = await this.prisma.$queryRawUnsafe<{ tombstones: number; history: number; outbox: number }[]>(
      `WITH gone AS (
         DELETE FROM state_records WHERE ctid IN (
           SELECT ctid FROM state_records WHERE deleted AND updated_at < $1 LIMIT $2
         ) RETURNING tenant, namespace, key
       ),
       gone_history AS (
         DELETE FROM state_history h USING gone g WHERE h.tenant = g.tenant AND h.namespace = g.namespace AND h.key = g.key RETURNING 1
       ),
       orphan_history AS (
         DELETE FROM state_history WHERE ctid IN (
           SELECT h.ctid FROM state_history h
           WHERE NOT EXISTS (SELECT 1 FROM state_records r WHERE r.tenant = h.tenant AND r.namespace = h.namespace AND r.key = h.key)
           LIMIT $2
         ) RETURNING 1
       ),
       old_outbox AS (
         DELETE FROM outbox_events WHERE id IN (
           SELECT id FROM outbox_events WHERE published_at IS NOT NULL AND published_at < $1 ORDER BY id LIMIT $2
         ) RETURNING 1
       )
       SELECT (SELECT count(*) FROM gone)::int AS tombstones,
              (SELECT count(*) FROM orphan_history)::int AS history,
              (SELECT count(*) FROM old_outbox)::int AS outbox`,
      before,
      limit,
    );
    const r = rows[0]!;
    return { tombstones: Number(r.tombstones), history: Number(r.history), outbox: Number(r.outbox) };
  }

  /** Live records of a namespace not written since `before`, oldest first: candidates to move to the archive. */
  async archiveCandidates(namespace: string, before: Date, limit: number): Promise<ExpiredRow[]> {
    const rows = await this.prisma.$queryRawUnsafe<(RecordRow & { tenant: string; namespace: string; key: string })[]>(
      `SELECT tenant, namespace, key, value::text AS value, version, schema_version, created_at, updated_at, expires_at, size_bytes, idle_ttl_seconds
       FROM state_records WHERE namespace = $1 AND updated_at < $2 AND ${LIVE.replaceAll("$4", "now()")}
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

  /** Tenants that have state or keys (for the dashboard's state browser). */
  async tenants(limit = 1000): Promise<string[]> {
    const rows = await this.sql.$queryRawUnsafe<{ tenant: string }[]>(
      `SELECT tenant FROM (SELECT DISTINCT tenant FROM state_records UNION SELECT DISTINCT tenant FROM api_keys) t ORDER BY tenant LIMIT $1`,
      limit,
    );
    return rows.map((r) => r.tenant);
  }

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
      `SELECT tenant, key, value::text AS value, version, schema_version, created_at, updated_at, expires_at, size_bytes FROM state_records
       WHERE namespace = $1 AND NOT deleted AND NOT archived AND (expires_at IS NULL OR expires_at > $2)
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

  /**
   * The newest outbox events (published or not), for the dashboard; with `tenant`, that tenant's among
   * the newest 10 000 events of all tenants (the table has no tenant index, which every write would pay
   * for, so the scan is bounded instead).
   */
  async recentOutboxEvents(
    limit = 20,
    tenant?: string,
  ): Promise<
    {
      id: string;
      tenant: string;
      namespace: string;
      key: string;
      version: number;
      operation: string;
      createdAt: Date;
      publishedAt: Date | null;
    }[]
  > {
    const rows = await this.sql.$queryRawUnsafe<
      {
        id: bigint;
        tenant: string;
        namespace: string;
        key: string;
        version: number;
        operation: string;
        created_at: Date;
        published_at: Date | null;
      }[]
    >(
      tenant === undefined
        ? `SELECT id, tenant, namespace, key, version, operation, created_at, published_at FROM outbox_events ORDER BY id DESC LIMIT $1`
        : `SELECT * FROM (SELECT id, tenant, namespace, key, version, operation, created_at, published_at FROM outbox_events ORDER BY id DESC LIMIT ${RECENT_OUTBOX_SCAN}) newest
           WHERE tenant = $2 ORDER BY id DESC LIMIT $1`,
      limit,
      ...(tenant === undefined ? [] : [tenant]),
    );
    return rows.map((r) => ({
      id: `evt_${String(r.id)}`,
      tenant: r.tenant,
      namespace: r.namespace,
      key: r.key,
      version: r.version,
      operation: r.operation,
      createdAt: r.created_at,
      publishedAt: r.published_at,
    }));
  }

  /** Unpublished outbox events and the age of the oldest (seconds); of one tenant with `tenant`. */
  async outboxStats(tenant?: string): Promise<{ pending: number; lagSeconds: number }> {
    const rows = await this.sql.$queryRawUnsafe<{ pending: number; lag: number }[]>(
      `SELECT count(*)::int AS pending, coalesce(extract(epoch FROM (now() - min(created_at))), 0)::float8 AS lag
       FROM outbox_events WHERE published_at IS NULL AND ($1::text IS NULL OR tenant = $1)`,
      tenant ?? null,
    );
    return { pending: Number(rows[0]?.pending ?? 0), lagSeconds: Math.max(0, Number(rows[0]?.lag ?? 0)) };
  }

  async ping(): Promise<void> {
    await this.sql.$queryRawUnsafe("SELECT 1");
  }

  async close(): Promise<void> {
    await this.onClose();
  }
}

export interface ExpiredRow {
  tenant: string;
  record: StateRecord;
}

interface HistoryRow {
  version: number;
  operation: "put" | "delete";
  actor: string | null;
  value: unknown;
  schema_version: number;
  size_bytes: number;
  created_at: Date;
}

async function putWith(sql: Sql, ref: StateRef, value: unknown, options: WriteOptions): Promise<StateRecord> {
  validateRef(ref);
  validateWriteOptions(options);
  const { json, sizeBytes } = encodeValue(value);
  const now = new Date();
  const { expiresAt, idleTtlSeconds } = expiryOf(now.getTime(), options);
  const schemaVersion = options.schemaVersion ?? 1;
  const withHistory = options.createOnly ? PUT_CREATE : options.ifVersion !== undefined ? PUT_IF_VERSION : PUT_ANY;
  const statement = options.history === false ? WITHOUT_HISTORY.get(withHistory)! : withHistory;
  const params: unknown[] = [
    ref.tenant,
    ref.namespace,
    ref.key,
    now,
    json,
    schemaVersion,
    expiresAt,
    sizeBytes,
    options.actor ?? null,
    idleTtlSeconds,
  ];
  if (options.ifVersion !== undefined) params.push(options.ifVersion);
  const rows = await sql.$queryRawUnsafe<{ version: number; created_at: Date }[]>(statement, ...params);
  const row = rows[0];
  if (!row)
    throw new VersionConflictError(
      ref,
      options.createOnly ? "absent" : options.ifVersion!,
      await currentVersion(sql, ref, now),
    );
  return {
    namespace: ref.namespace,
    key: ref.key,
    value: JSON.parse(json),
    version: row.version,
    schemaVersion,
    createdAt: row.created_at,
    updatedAt: now,
    expiresAt,
    idleTtlSeconds,
    sizeBytes,
  };
}

async function deleteWith(
  sql: Sql,
  ref: StateRef,
  options: Pick<WriteOptions, "ifVersion" | "actor">,
): Promise<DeleteResult> {
  validateRef(ref);
  validateWriteOptions(options);
  const now = new Date();
  const rows = await sql.$queryRawUnsafe<{ version: number }[]>(
    DELETE,
    ref.tenant,
    ref.namespace,
    ref.key,
    now,
    options.ifVersion ?? null,
    options.actor ?? null,
  );
  if (rows[0]) return { deleted: true, version: rows[0].version };
  if (options.ifVersion !== undefined)
    throw new VersionConflictError(ref, options.ifVersion, await currentVersion(sql, ref, now));
  return { deleted: false, version: null };
}

/** The conflict path's second query: conflicts are the rare path, so the write itself stays one statement. */
async function currentVersion(sql: Sql, ref: StateRef, now: Date): Promise<number | null> {
  const rows = await sql.$queryRawUnsafe<{ version: number }[]>(
    `SELECT version FROM state_records WHERE tenant = $1 AND namespace = $2 AND key = $3 AND ${LIVE}`,
    ref.tenant,
    ref.namespace,
    ref.key,
    now,
  );
  return rows[0]?.version ?? null;
}

function toRecord(ref: StateRef, r: RecordRow): StateRecord {
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

function toHistory(r: HistoryRow): HistoryEntry {
  return {
    version: r.version,
    operation: r.operation,
    actor: r.actor,
    value: r.operation === "delete" ? null : parseJson(r.value),
    schemaVersion: r.schema_version,
    sizeBytes: r.size_bytes,
    at: r.created_at,
  };
}

/** Values are selected as text (`value::text`): adapters differ in how they hand back json columns. */
function parseJson(v: unknown): unknown {
  return JSON.parse(v as string);
}
