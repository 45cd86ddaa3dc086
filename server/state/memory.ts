import { inOperation, VersionConflictError } from "./errors";
import type {
  Capability,
  CopyRef,
  DeleteResult,
  EraseResult,
  ListOptions,
  ListPage,
  NamespaceStats,
  StateRecord,
} from "./store";
import type { StateRef, StateStore, Tombstone, TransactionOp, TransactionResult, WriteOptions } from "./store";
import { encodeValue, isTombstone, listQuery, storedMeta, toPage, unsupported, validateRef } from "./store";
import { validateWriteOptions, writtenMeta } from "./store";

interface Entry {
  version: number;
  deleted: boolean;
  json: string; // the value as stored; parsed on every read so callers never share objects
  schemaVersion: number;
  createdAt: number;
  updatedAt: number;
  expiresAt: number | null;
  idleTtlSeconds: number | null;
  sizeBytes: number;
}

export interface MemoryStoreOptions {
  /** How long a deleted or expired key's version is remembered, so a re-created key continues its count. */
  tombstoneRetentionMs?: number;
  now?: () => number;
}

/**
 * The embedded hot tier: the same contract as the Redis tier (compare-and-set writes, TTLs, a cache
 * of other tiers' records), held in this process. Used when no REDIS_URL is configured; it is only
 * correct for a single instance, which is what the embedded default is.
 */
export class MemoryStore implements StateStore {
  readonly name = "memory";
  readonly capabilities: ReadonlySet<Capability> = new Set<Capability>(["ttl", "list", "cache", "transactions"]);
  private readonly spaces = new Map<string, Map<string, Entry>>();
  private readonly retentionMs: number;
  private readonly now: () => number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(options: MemoryStoreOptions = {}) {
    this.retentionMs = options.tombstoneRetentionMs ?? 10 * 60_000;
    this.now = options.now ?? Date.now;
    this.sweeper = setInterval(() => this.purge(), 60_000);
    this.sweeper.unref();
  }

  async get(ref: StateRef): Promise<StateRecord | undefined> {
    validateRef(ref);
    const entry = this.space(ref.tenant, ref.namespace, false)?.get(ref.key);
    return entry && this.isLive(entry) ? toRecord(ref, entry) : undefined;
  }

  async put(ref: StateRef, value: unknown, options: WriteOptions = {}): Promise<StateRecord> {
    return this.putSync(ref, value, options);
  }

  private putSync(ref: StateRef, value: unknown, options: WriteOptions = {}): StateRecord {
    validateRef(ref);
    validateWriteOptions(options);
    const { json, sizeBytes } = encodeValue(value);
    const space = this.space(ref.tenant, ref.namespace, true)!;
    const current = space.get(ref.key);
    const live = current !== undefined && this.isLive(current);
    this.checkPrecondition(ref, live ? current : undefined, options);
    const now = this.now();
    const entry: Entry = {
      version: (current?.version ?? 0) + 1,
      deleted: false,
      json,
      ...writtenMeta(now, options, live ? current.createdAt : now),
      sizeBytes,
    };
    space.set(ref.key, entry);
    return toRecord(ref, entry);
  }

  async delete(ref: StateRef, options: Pick<WriteOptions, "ifVersion"> = {}): Promise<DeleteResult> {
    return this.deleteSync(ref, options);
  }

  private deleteSync(ref: StateRef, options: Pick<WriteOptions, "ifVersion"> = {}): DeleteResult {
    validateRef(ref);
    validateWriteOptions(options);
    const space = this.space(ref.tenant, ref.namespace, false);
    const current = space?.get(ref.key);
    const live = current !== undefined && this.isLive(current);
    this.checkPrecondition(ref, live ? current : undefined, options);
    if (!live || !space) return { deleted: false, version: null };
    const version = current.version + 1;
    space.set(ref.key, {
      ...current,
      version,
      deleted: true,
      json: "null",
      sizeBytes: 0,
      updatedAt: this.now(),
      expiresAt: null,
    });
    return { deleted: true, version };
  }

  async erase(ref: StateRef): Promise<EraseResult> {
    validateRef(ref);
    const space = this.space(ref.tenant, ref.namespace, false);
    const entry = space?.get(ref.key);
    if (!entry || !space) return { erased: false, version: null };
    space.delete(ref.key);
    return { erased: true, version: entry.version };
  }

  async list(tenant: string, namespace: string, options: ListOptions = {}): Promise<ListPage> {
    const { limit, after, prefix } = listQuery(namespace, options);
    const space = this.space(tenant, namespace, false);
    if (!space) return { items: [] };
    const keys = [...space.keys()]
      .filter((k) => k.startsWith(prefix) && (after === undefined || k > after) && this.isLive(space.get(k)!))
      .sort()
      .slice(0, limit + 1);
    return toPage(
      keys.map((key) => {
        const e = space.get(key)!;
        return {
          key,
          version: e.version,
          updatedAt: new Date(e.updatedAt),
          expiresAt: e.expiresAt === null ? null : new Date(e.expiresAt),
          sizeBytes: e.sizeBytes,
        };
      }),
      limit,
    );
  }

  async history(): Promise<never> {
    unsupported(this.name, "history");
  }

  async getVersion(): Promise<never> {
    unsupported(this.name, "history");
  }

  /** Runs synchronously, so no other call interleaves: all or nothing by construction. */
  async transact(ops: readonly TransactionOp[]): Promise<TransactionResult[]> {
    const snapshot = new Map<string, { space: Map<string, Entry>; key: string; entry: Entry | undefined }>();
    for (const op of ops) {
      const space = this.space(op.ref.tenant, op.ref.namespace, true)!;
      const id = `${op.ref.tenant}\u0000${op.ref.namespace}\u0000${op.ref.key}`;
      if (!snapshot.has(id)) snapshot.set(id, { space, key: op.ref.key, entry: space.get(op.ref.key) });
    }
    const results: TransactionResult[] = [];
    try {
      for (const [i, op] of ops.entries()) {
        try {
          results.push(
            op.op === "put"
              ? { op: "put", record: this.putSync(op.ref, op.value, op.options) }
              : { op: "delete", result: this.deleteSync(op.ref, op.options) },
          );
        } catch (err) {
          throw inOperation(err, i); // which operation failed (its 412 names it)
        }
      }
      return results;
    } catch (err) {
      for (const { space, key, entry } of snapshot.values()) {
        if (entry) space.set(key, entry);
        else space.delete(key);
      }
      throw err;
    }
  }

  async setIfNewer(tenant: string, record: StateRecord | Tombstone): Promise<boolean> {
    const space = this.space(tenant, record.namespace, true)!;
    const current = space.get(record.key);
    if (current && current.version >= record.version) return false;
    if (isTombstone(record)) {
      space.set(record.key, {
        version: record.version,
        deleted: true,
        json: "null",
        schemaVersion: 1,
        createdAt: this.now(),
        updatedAt: this.now(),
        expiresAt: null,
        idleTtlSeconds: null,
        sizeBytes: 0,
      });
    } else {
      space.set(record.key, {
        version: record.version,
        deleted: false,
        json: JSON.stringify(record.value),
        ...storedMeta(record),
        sizeBytes: record.sizeBytes,
      });
    }
    return true;
  }

  async touch(ref: StateRef, version: number): Promise<Date | undefined> {
    validateRef(ref);
    const entry = this.space(ref.tenant, ref.namespace, false)?.get(ref.key);
    if (!entry || !this.isLive(entry) || entry.version !== version || entry.idleTtlSeconds === null) return undefined;
    entry.expiresAt = Math.max(entry.expiresAt ?? 0, this.now() + Math.round(entry.idleTtlSeconds * 1000));
    return new Date(entry.expiresAt);
  }

  async importRecord(): Promise<never> {
    unsupported(this.name, "import");
  }

  async stats(): Promise<NamespaceStats[]> {
    const byNamespace = new Map<string, { keys: number; bytes: number }>();
    for (const [id, space] of this.spaces) {
      const namespace = id.slice(id.indexOf("\u0000") + 1);
      const s = byNamespace.get(namespace) ?? { keys: 0, bytes: 0 };
      for (const e of space.values()) {
        if (!this.isLive(e)) continue;
        s.keys++;
        s.bytes += e.sizeBytes;
      }
      byNamespace.set(namespace, s);
    }
    return [...byNamespace].map(([namespace, s]) => ({ namespace, ...s }));
  }

  async *scanCopies(pageSize = 500): AsyncGenerator<CopyRef[]> {
    let page: CopyRef[] = [];
    for (const [id, space] of this.spaces) {
      const [tenant, namespace] = id.split("\u0000") as [string, string];
      for (const [key, e] of space) {
        page.push({ tenant, namespace, key, version: e.version });
        if (page.length >= pageSize) {
          yield page;
          page = [];
        }
      }
    }
    if (page.length > 0) yield page;
  }

  async evict(ref: StateRef, version: number): Promise<boolean> {
    const space = this.space(ref.tenant, ref.namespace, false);
    if (space?.get(ref.key)?.version !== version) return false;
    return space.delete(ref.key);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }

  private checkPrecondition(
    ref: StateRef,
    live: Entry | undefined,
    options: Pick<WriteOptions, "ifVersion" | "createOnly">,
  ): void {
    if (options.createOnly && live) throw new VersionConflictError(ref, "absent", live.version);
    if (options.ifVersion !== undefined && live?.version !== options.ifVersion) {
      throw new VersionConflictError(ref, options.ifVersion, live?.version ?? null);
    }
  }

  private isLive(e: Entry): boolean {
    return !e.deleted && (e.expiresAt === null || e.expiresAt > this.now());
  }

  private space(tenant: string, namespace: string, create: boolean): Map<string, Entry> | undefined {
    const id = `${tenant}\u0000${namespace}`;
    let space = this.spaces.get(id);
    if (!space && create) this.spaces.set(id, (space = new Map()));
    return space;
  }

  /** Forgets tombstones and expired entries once their retention has passed. */
  private purge(): void {
    const cutoff = this.now() - this.retentionMs;
    for (const space of this.spaces.values()) {
      for (const [key, e] of space) {
        const deadSince = e.deleted ? e.updatedAt : e.expiresAt;
        if (deadSince !== null && deadSince < cutoff) space.delete(key);
      }
    }
  }
}

function toRecord(ref: StateRef, e: Entry): StateRecord {
  return {
    namespace: ref.namespace,
    key: ref.key,
    value: JSON.parse(e.json),
    version: e.version,
    schemaVersion: e.schemaVersion,
    createdAt: new Date(e.createdAt),
    updatedAt: new Date(e.updatedAt),
    expiresAt: e.expiresAt === null ? null : new Date(e.expiresAt),
    idleTtlSeconds: e.idleTtlSeconds,
    sizeBytes: e.sizeBytes,
  };
}
