import { VersionConflictError } from "./errors";
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
  expiryFrom,
  LIMITS,
  listLimit,
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
type Sql = Pick<PrismaClient, "$queryRawUnsafe">;

interface RecordRow {
  value: unknown;
  version: number;
  schema_version: number;
  created_at: Date;
  updated_at: Date;
  expires_at: Date | null;
  size_bytes: number;
}

const LIVE = `NOT deleted AND (expires_at IS NULL OR expires_at > $4)`;

// One statement writes the record, its history entry and its outbox event, so a durable write is one
// round trip and the three can never disagree. Parameters:
// $1 tenant $2 namespace $3 key $4 now $5 value json $6 schemaVersion $7 expiresAt $8 size $9 actor $10 ifVersion
const WRITE_TAIL = `,
  h AS (
    INSERT INTO state_history (tenant, namespace, key, version, operation, actor, value, schema_version, size_bytes, created_at)
    SELECT $1, $2, $3, version, 'put', $9::text, $5::json, $6, $8, $4 FROM up
  ),
  o AS (
    INSERT INTO outbox_events (tenant, namespace, key, version, operation, payload, created_at)
    SELECT $1, $2, $3, version, 'put',
      json_build_object('namespace', $2::text, 'key', $3::text, 'version', version, 'operation', 'put', 'sizeBytes', $8::int, 'at', $4::timestamptz),
      $4 FROM up
  )
SELECT version, created_at FROM up`;

const UPSERT = (guard: string) => `
WITH up AS (
  INSERT INTO state_records AS r (tenant, namespace, key, value, version, schema_version, created_at, updated_at, expires_at, size_bytes, deleted)
  VALUES ($1, $2, $3, $5::json, 1, $6, $4, $4, $7, $8, false)
  ON CONFLICT (tenant, namespace, key) DO UPDATE SET
    value = EXCLUDED.value, version = r.version + 1, schema_version = EXCLUDED.schema_version,
    created_at = CASE WHEN r.deleted OR (r.expires_at IS NOT NULL AND r.expires_at <= $4) THEN $4 ELSE r.created_at END,
    updated_at = $4, expires_at = EXCLUDED.expires_at, size_bytes = EXCLUDED.size_bytes, deleted = false
  ${guard}
  RETURNING r.version, r.created_at
)${WRITE_TAIL}`;

const PUT_ANY = UPSERT("");
const PUT_CREATE = UPSERT(`WHERE r.deleted OR (r.expires_at IS NOT NULL AND r.expires_at <= $4)`);
const PUT_IF_VERSION = `
WITH up AS (
  UPDATE state_records SET value = $5::json, version = version + 1, schema_version = $6, updated_at = $4,
    expires_at = $7, size_bytes = $8
  WHERE tenant = $1 AND namespace = $2 AND key = $3 AND ${LIVE} AND version = $10::int
  RETURNING version, created_at
)${WRITE_TAIL}`;

const DELETE = `
WITH up AS (
  UPDATE state_records SET version = version + 1, deleted = true, value = 'null'::json, size_bytes = 0, updated_at = $4, expires_at = NULL
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
  const sqlState = code?.driverAdapterError?.cause?.originalCode ?? code?.code;
  if (typeof sqlState === "string" && sqlState.startsWith("22")) throw new InvalidError("a value is out of range or not representable", { sqlState });
  throw err;
}

/**
 * The warm tier: PostgreSQL through the Prisma client, on a server (adapter-pg) or embedded (PGlite).
 * The source of truth for durable namespaces. Every operation is a single SQL statement.
 */
export class PostgresStore implements StateStore {
  readonly capabilities: ReadonlySet<Capability> = new Set<Capability>(["ttl", "list", "history", "transactions", "import"]);

  constructor(
    readonly prisma: PrismaClient,
    readonly name: "postgres" | "pglite" = "postgres",
    private readonly onClose: () => Promise<void> = () => prisma.$disconnect(),
  ) {
    // Every state operation maps data exceptions to `invalid`, so bad input cannot trip the breaker.
    for (const method of ["get", "put", "delete", "list", "history", "getVersion", "transact", "importRecord"] as const) {
      const original = this[method].bind(this) as (...a: unknown[]) => Promise<unknown>;
      (this as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => original(...args).catch(dataExceptionAsInvalid);
    }
  }

  /** Opens PostgreSQL at `url`, or PGlite under `pgliteDir`, applying pending migrations first. */
  static async open(target: { url: string } | { pgliteDir: string }, options: { migrate?: boolean } = {}): Promise<PostgresStore> {
    const db: WarmDatabase = await openWarmDatabase(target, options);
    return new PostgresStore(db.prisma, db.kind, db.close);
  }

  async get(ref: StateRef): Promise<StateRecord | undefined> {
    validateRef(ref);
    const rows = await this.prisma.$queryRawUnsafe<RecordRow[]>(
      `SELECT value::text AS value, version, schema_version, created_at, updated_at, expires_at, size_bytes FROM state_records
       WHERE tenant = $1 AND namespace = $2 AND key = $3 AND ${LIVE}`,
      ref.tenant, ref.namespace, ref.key, new Date(),
    );
    return rows[0] && toRecord(ref, rows[0]);
  }

  async put(ref: StateRef, value: unknown, options: WriteOptions = {}): Promise<StateRecord> {
    return putWith(this.prisma, ref, value, options);
  }

  async delete(ref: StateRef, options: Pick<WriteOptions, "ifVersion" | "actor"> = {}): Promise<DeleteResult> {
    return deleteWith(this.prisma, ref, options);
  }

  async list(tenant: string, namespace: string, options: ListOptions = {}): Promise<ListPage> {
    validateNamespaceName(namespace);
    const limit = listLimit(options);
    const after = decodeCursor(options.cursor);
    const rows = await this.prisma.$queryRawUnsafe<{ key: string; version: number; updated_at: Date; expires_at: Date | null; size_bytes: number }[]>(
      `SELECT key, version, updated_at, expires_at, size_bytes FROM state_records
       WHERE tenant = $1 AND namespace = $2 AND ${LIVE} AND starts_with(key, $3) AND ($5::text IS NULL OR key > $5::text)
       ORDER BY key LIMIT $6`,
      tenant, namespace, options.prefix ?? "", new Date(), after ?? null, limit + 1,
    );
    return toPage(rows.map((r) => ({ key: r.key, version: r.version, updatedAt: r.updated_at, expiresAt: r.expires_at, sizeBytes: r.size_bytes })), limit);
  }

  async history(ref: StateRef, options: HistoryOptions = {}): Promise<HistoryEntry[]> {
    validateRef(ref);
    const limit = listLimit({ limit: options.limit });
    if (options.before !== undefined && (!Number.isSafeInteger(options.before) || options.before < 1 || options.before > LIMITS.maxVersion + 1)) {
      throw new InvalidError("before must be a positive integer", { field: "before" });
    }
    const rows = await this.prisma.$queryRawUnsafe<HistoryRow[]>(
      `SELECT version, operation, actor, value::text AS value, schema_version, size_bytes, created_at FROM state_history
       WHERE tenant = $1 AND namespace = $2 AND key = $3 AND ($4::int IS NULL OR version < $4::int)
       ORDER BY version DESC LIMIT $5`,
      ref.tenant, ref.namespace, ref.key, options.before ?? null, limit,
    );
    return rows.map(toHistory);
  }

  async getVersion(ref: StateRef, version: number): Promise<HistoryEntry | undefined> {
    validateRef(ref);
    if (!Number.isSafeInteger(version) || version < 1) throw new InvalidError("version must be a positive integer", { field: "version" });
    if (version > LIMITS.maxVersion) return undefined;
    const rows = await this.prisma.$queryRawUnsafe<HistoryRow[]>(
      `SELECT version, operation, actor, value::text AS value, schema_version, size_bytes, created_at FROM state_history
       WHERE tenant = $1 AND namespace = $2 AND key = $3 AND version = $4`,
      ref.tenant, ref.namespace, ref.key, version,
    );
    return rows[0] && toHistory(rows[0]);
  }

  async transact(ops: readonly TransactionOp[]): Promise<TransactionResult[]> {
    return this.prisma.$transaction(async (tx) => {
      const results: TransactionResult[] = [];
      for (const op of ops) {
        results.push(
          op.op === "put"
            ? { op: "put", record: await putWith(tx, op.ref, op.value, op.options ?? {}) }
            : { op: "delete", result: await deleteWith(tx, op.ref, op.options ?? {}) },
        );
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
        `INSERT INTO state_records AS r (tenant, namespace, key, value, version, schema_version, created_at, updated_at, expires_at, size_bytes, deleted)
         VALUES ($1, $2, $3, $4::json, $5, $6, $7, $8, $9, $10, false)
         ON CONFLICT (tenant, namespace, key) DO UPDATE SET value = EXCLUDED.value, version = EXCLUDED.version,
           schema_version = EXCLUDED.schema_version, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,
           expires_at = EXCLUDED.expires_at, size_bytes = EXCLUDED.size_bytes, deleted = false
         WHERE r.version < EXCLUDED.version
         RETURNING version`,
        tenant, record.namespace, record.key, JSON.stringify(record.value), record.version, record.schemaVersion,
        record.createdAt, record.updatedAt, record.expiresAt, record.sizeBytes,
      );
      if (written.length === 0) return false;
      for (const h of history) {
        await tx.$queryRawUnsafe(
          `INSERT INTO state_history (tenant, namespace, key, version, operation, actor, value, schema_version, size_bytes, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7::json, $8, $9, $10) ON CONFLICT DO NOTHING`,
          tenant, record.namespace, record.key, h.version, h.operation, h.actor, h.value === null ? null : JSON.stringify(h.value),
          h.schemaVersion, h.sizeBytes, h.at,
        );
      }
      return true;
    });
  }

  async stats(): Promise<NamespaceStats[]> {
    const rows = await this.prisma.$queryRawUnsafe<{ namespace: string; keys: number; bytes: number }[]>(
      `SELECT namespace, count(*)::int AS keys, coalesce(sum(size_bytes), 0)::float8 AS bytes FROM state_records
       WHERE NOT deleted AND (expires_at IS NULL OR expires_at > $1) GROUP BY namespace`,
      new Date(),
    );
    return rows.map((r) => ({ namespace: r.namespace, keys: Number(r.keys), bytes: Number(r.bytes) }));
  }

  /** Tenants that have state or keys (for the dashboard's state browser). */
  async tenants(limit = 1000): Promise<string[]> {
    const rows = await this.prisma.$queryRawUnsafe<{ tenant: string }[]>(
      `SELECT tenant FROM (SELECT DISTINCT tenant FROM state_records UNION SELECT DISTINCT tenant FROM api_keys) t ORDER BY tenant LIMIT $1`,
      limit,
    );
    return rows.map((r) => r.tenant);
  }

  /** The newest outbox events (published or not), for the dashboard. */
  async recentOutboxEvents(limit = 20): Promise<{ id: string; tenant: string; namespace: string; key: string; version: number; operation: string; createdAt: Date; publishedAt: Date | null }[]> {
    const rows = await this.prisma.$queryRawUnsafe<{ id: bigint; tenant: string; namespace: string; key: string; version: number; operation: string; created_at: Date; published_at: Date | null }[]>(
      `SELECT id, tenant, namespace, key, version, operation, created_at, published_at FROM outbox_events ORDER BY id DESC LIMIT $1`,
      limit,
    );
    return rows.map((r) => ({ id: `evt_${String(r.id)}`, tenant: r.tenant, namespace: r.namespace, key: r.key, version: r.version, operation: r.operation, createdAt: r.created_at, publishedAt: r.published_at }));
  }

  /** Unpublished outbox events and the age of the oldest (seconds). */
  async outboxStats(): Promise<{ pending: number; lagSeconds: number }> {
    const rows = await this.prisma.$queryRawUnsafe<{ pending: number; lag: number }[]>(
      `SELECT count(*)::int AS pending, coalesce(extract(epoch FROM (now() - min(created_at))), 0)::float8 AS lag
       FROM outbox_events WHERE published_at IS NULL`,
    );
    return { pending: Number(rows[0]?.pending ?? 0), lagSeconds: Math.max(0, Number(rows[0]?.lag ?? 0)) };
  }

  async ping(): Promise<void> {
    await this.prisma.$queryRawUnsafe("SELECT 1");
  }

  async close(): Promise<void> {
    await this.onClose();
  }
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
  const expiresAt = expiryFrom(now.getTime(), options.ttlSeconds);
  const schemaVersion = options.schemaVersion ?? 1;
  const statement = options.createOnly ? PUT_CREATE : options.ifVersion !== undefined ? PUT_IF_VERSION : PUT_ANY;
  const params: unknown[] = [ref.tenant, ref.namespace, ref.key, now, json, schemaVersion, expiresAt, sizeBytes, options.actor ?? null];
  if (options.ifVersion !== undefined) params.push(options.ifVersion);
  const rows = await sql.$queryRawUnsafe<{ version: number; created_at: Date }[]>(statement, ...params);
  const row = rows[0];
  if (!row) throw new VersionConflictError(ref, options.createOnly ? "absent" : options.ifVersion!, await currentVersion(sql, ref, now));
  return {
    namespace: ref.namespace, key: ref.key, value: JSON.parse(json), version: row.version, schemaVersion,
    createdAt: row.created_at, updatedAt: now, expiresAt, sizeBytes,
  };
}

async function deleteWith(sql: Sql, ref: StateRef, options: Pick<WriteOptions, "ifVersion" | "actor">): Promise<DeleteResult> {
  validateRef(ref);
  validateWriteOptions(options);
  const now = new Date();
  const rows = await sql.$queryRawUnsafe<{ version: number }[]>(DELETE, ref.tenant, ref.namespace, ref.key, now, options.ifVersion ?? null, options.actor ?? null);
  if (rows[0]) return { deleted: true, version: rows[0].version };
  if (options.ifVersion !== undefined) throw new VersionConflictError(ref, options.ifVersion, await currentVersion(sql, ref, now));
  return { deleted: false, version: null };
}

/** The conflict path's second query: conflicts are the rare path, so the write itself stays one statement. */
async function currentVersion(sql: Sql, ref: StateRef, now: Date): Promise<number | null> {
  const rows = await sql.$queryRawUnsafe<{ version: number }[]>(
    `SELECT version FROM state_records WHERE tenant = $1 AND namespace = $2 AND key = $3 AND ${LIVE}`,
    ref.tenant, ref.namespace, ref.key, now,
  );
  return rows[0]?.version ?? null;
}

function toRecord(ref: StateRef, r: RecordRow): StateRecord {
  return {
    namespace: ref.namespace, key: ref.key, value: parseJson(r.value), version: r.version, schemaVersion: r.schema_version,
    createdAt: r.created_at, updatedAt: r.updated_at, expiresAt: r.expires_at, sizeBytes: r.size_bytes,
  };
}

function toHistory(r: HistoryRow): HistoryEntry {
  return {
    version: r.version, operation: r.operation, actor: r.actor, value: r.operation === "delete" ? null : parseJson(r.value),
    schemaVersion: r.schema_version, sizeBytes: r.size_bytes, at: r.created_at,
  };
}

/** Values are selected as text (`value::text`): adapters differ in how they hand back json columns. */
function parseJson(v: unknown): unknown {
  return JSON.parse(v as string);
}
