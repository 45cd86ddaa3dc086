import { inOperation, VersionConflictError } from "./errors";
import type {
  Capability,
  DeleteResult,
  EraseResult,
  HistoryEntry,
  HistoryOptions,
  ListOptions,
  ListPage,
} from "./store";
import type { NamespaceStats, StateRecord, StateRef, StateStore, TransactionOp, TransactionResult } from "./store";
import type { WriteOptions } from "./store";
import { decodeCursor, encodeValue, expiryOf, LIMITS, listLimit, toPage, unsupported } from "./store";
import { RECORD_OPERATIONS, validateNamespaceName, validateRef, validateWriteOptions } from "./store";
import { InvalidError } from "./errors";
import type { PrismaClient } from "../db/generated/client";
import { live, parseJson, type RecordRow, type Sql, stored, toRecord } from "../db/state-records";
import { openWarmDatabase, type WarmDatabase } from "../db/warm-database";

/** Live at the statement's `$4` (now): the warm tier's reads and conditional writes see only these. */
const LIVE = live("$4");

// One statement writes the record, its history entry and its outbox event, so a durable write is one
// round trip and the three can never disagree. Parameters:
// $1 tenant $2 namespace $3 key $4 now $5 value json $6 schemaVersion $7 expiresAt $8 size $9 actor $10 idleTtl $11 ifVersion
const HISTORY_CTE = `h AS (
    INSERT INTO state_history (tenant, namespace, key, version, operation, actor, value, schema_version,
      size_bytes, created_at)
    SELECT $1, $2, $3, version, 'put', $9::text, $5::json, $6, $8, $4 FROM up
  ),`;
const WRITE_TAIL = `,
  ${HISTORY_CTE}
  o AS (
    INSERT INTO outbox_events (tenant, namespace, key, version, operation, payload, created_at)
    SELECT $1, $2, $3, version, 'put',
      json_build_object('namespace', $2::text, 'key', $3::text, 'version', version, 'operation', 'put',
        'sizeBytes', $8::int, 'at', $4::timestamptz),
      $4 FROM up
  )
SELECT version, created_at FROM up`;

const UPSERT = (guard: string) => `
WITH up AS (
  INSERT INTO state_records AS r (tenant, namespace, key, value, version, schema_version, created_at, updated_at,
    expires_at, size_bytes, deleted, idle_ttl_seconds)
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
  UPDATE state_records SET version = version + 1, deleted = true, value = 'null'::json, size_bytes = 0,
    updated_at = $4, expires_at = NULL, idle_ttl_seconds = NULL
  WHERE tenant = $1 AND namespace = $2 AND key = $3 AND ${LIVE} AND ($5::int IS NULL OR version = $5::int)
  RETURNING version, schema_version
),
  h AS (
    INSERT INTO state_history (tenant, namespace, key, version, operation, actor, value, schema_version,
      size_bytes, created_at)
    SELECT $1, $2, $3, version, 'delete', $6::text, NULL, schema_version, 0, $4 FROM up
  ),
  o AS (
    INSERT INTO outbox_events (tenant, namespace, key, version, operation, payload, created_at)
    SELECT $1, $2, $3, version, 'delete',
      json_build_object('namespace', $2::text, 'key', $3::text, 'version', version, 'operation', 'delete', 'at',
        $4::timestamptz),
      $4 FROM up
  )
SELECT version FROM up`;

// Forgetting a key, three statements in one transaction: the record first (its row lock makes a
// concurrent write of the key finish first), then, each statement with a fresh snapshot, every history
// row and the outbox events, which stay (the relay still publishes pending ones, in order) but no longer
// name it. In one statement the history and outbox parts would not see a write committed meanwhile.
// $1 tenant $2 namespace $3 key
const ERASE_RECORD = `DELETE FROM state_records WHERE tenant = $1 AND namespace = $2 AND key = $3 RETURNING version`;
const ERASE_HISTORY = `DELETE FROM state_history WHERE tenant = $1 AND namespace = $2 AND key = $3 RETURNING version`;
const REDACT_OUTBOX = `
UPDATE outbox_events SET key = '',
  payload = json_build_object('namespace', namespace, 'key', '', 'version', version, 'operation', operation,
    'redacted', true, 'at', payload->'at')
WHERE tenant = $1 AND namespace = $2 AND key = $3 RETURNING version`;

/** SQLSTATE class 22 (data exception: out of range, bad encoding, ...) comes from a value,
  not from the database's health. */
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
    /** The tier's own client: other modules query the database through their repositories, never through the store. */
    private readonly prisma: PrismaClient,
    readonly name: "postgres" | "pglite" = "postgres",
    private readonly onClose: () => Promise<void> = () => prisma.$disconnect(),
    /** Where single statements go: the pg pool directly when there is one, else Prisma. Transactions use Prisma. */
    private readonly sql: Sql = prisma,
  ) {
    // Every state operation maps data exceptions to `invalid`, so bad input cannot trip the breaker.
    for (const method of [...RECORD_OPERATIONS, "importRecord", "dropArchived"] as const) {
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
    return PostgresStore.on(await openWarmDatabase(target, options));
  }

  /** The store over a database opened by server/db (which owns it: closing the store closes the database). */
  static on(db: WarmDatabase): PostgresStore {
    return new PostgresStore(db.prisma, db.kind, db.close, db.direct);
  }

  async get(ref: StateRef): Promise<StateRecord | undefined> {
    validateRef(ref);
    const rows = await this.sql.$queryRawUnsafe<RecordRow[]>(
      `SELECT value::text AS value, version, schema_version, created_at, updated_at, expires_at, size_bytes,
        idle_ttl_seconds FROM state_records
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

  async erase(ref: StateRef): Promise<EraseResult> {
    validateRef(ref);
    const args = [ref.tenant, ref.namespace, ref.key] as const;
    const found = await this.prisma.$transaction(async (tx) => {
      const rows: { version: number }[] = [];
      for (const sql of [ERASE_RECORD, ERASE_HISTORY, REDACT_OUTBOX])
        rows.push(...(await tx.$queryRawUnsafe<{ version: number }[]>(sql, ...args)));
      return rows;
    });
    if (found.length === 0) return { erased: false, version: null };
    return { erased: true, version: Math.max(...found.map((r) => Number(r.version))) };
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
       WHERE tenant = $1 AND namespace = $2 AND ${LIVE} AND starts_with(key,
         $3) AND ($5::text IS NULL OR key > $5::text)
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
        `INSERT INTO state_records AS r (tenant, namespace, key, value, version, schema_version, created_at,
          updated_at, expires_at, size_bytes, deleted, idle_ttl_seconds)
         VALUES ($1, $2, $3, $4::json, $5, $6, $7, $8, $9, $10, false, $11::float8)
         ON CONFLICT (tenant, namespace, key) DO UPDATE SET value = EXCLUDED.value, version = EXCLUDED.version,
           schema_version = EXCLUDED.schema_version, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,
           expires_at = EXCLUDED.expires_at, size_bytes = EXCLUDED.size_bytes, deleted = false,
             idle_ttl_seconds = EXCLUDED.idle_ttl_seconds,
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
          `INSERT INTO state_history (tenant, namespace, key, version, operation, actor, value, schema_version,
            size_bytes, created_at)
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
         UPDATE state_records SET archived = true, value = 'null'::json, size_bytes = 0, expires_at = NULL,
           idle_ttl_seconds = NULL
         WHERE tenant = $1 AND namespace = $2 AND key = $3 AND version = $4 AND ${stored()} RETURNING version
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
       WHERE ${live("$1")} GROUP BY namespace`,
      new Date(),
    );
    return rows.map((r) => ({ namespace: r.namespace, keys: Number(r.keys), bytes: Number(r.bytes) }));
  }

  async ping(): Promise<void> {
    await this.sql.$queryRawUnsafe("SELECT 1");
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
