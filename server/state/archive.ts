import { createHash, randomUUID } from "node:crypto";
import { mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { InvalidError, VersionConflictError } from "./errors";
import {
  type Capability,
  type DeleteResult,
  type HistoryEntry,
  type HistoryOptions,
  type ListEntry,
  type ListOptions,
  type ListPage,
  type StateRecord,
  type StateRef,
  type StateStore,
  type WriteOptions,
  decodeCursor,
  encodeValue,
  expiryFrom,
  listLimit,
  refKey,
  toPage,
  unsupported,
  validateNamespaceName,
  validateRef,
  validateWriteOptions,
} from "./store";

/** One archived key: its last record (or tombstone) and every version it had. Stored gzipped. */
interface ArchivedKey {
  key: string;
  version: number;
  deleted: boolean;
  value: unknown;
  schemaVersion: number;
  createdAt: number;
  updatedAt: number;
  expiresAt: number | null;
  sizeBytes: number;
  history: { version: number; operation: "put" | "delete"; actor: string | null; value: unknown; schemaVersion: number; sizeBytes: number; at: number }[];
}

/**
 * The cold tier on a filesystem directory: one gzipped JSON file per key under
 * <root>/<tenant>/<namespace>/, holding the record and its whole history, so restoring a key brings
 * its versions back intact. Writes go to a temporary file renamed into place (a reader never sees a
 * half-written file); writes to one key are serialized within the process.
 */
export class FilesystemArchive implements StateStore {
  readonly name = "filesystem";
  readonly capabilities: ReadonlySet<Capability> = new Set<Capability>(["ttl", "list", "history", "import"]);
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(readonly root: string) {}

  async get(ref: StateRef): Promise<StateRecord | undefined> {
    validateRef(ref);
    const a = await this.read(ref);
    return a && isLive(a) ? toRecord(ref, a) : undefined;
  }

  async put(ref: StateRef, value: unknown, options: WriteOptions = {}): Promise<StateRecord> {
    validateRef(ref);
    validateWriteOptions(options);
    const { json, sizeBytes } = encodeValue(value);
    return this.exclusive(ref, async () => {
      const cur = await this.read(ref);
      const live = cur && isLive(cur) ? cur : undefined;
      if (options.createOnly && live) throw new VersionConflictError(ref, "absent", live.version);
      if (options.ifVersion !== undefined && live?.version !== options.ifVersion) {
        throw new VersionConflictError(ref, options.ifVersion, live?.version ?? null);
      }
      const now = Date.now();
      const stored = JSON.parse(json) as unknown;
      const next: ArchivedKey = {
        key: ref.key,
        version: (cur?.version ?? 0) + 1,
        deleted: false,
        value: stored,
        schemaVersion: options.schemaVersion ?? 1,
        createdAt: live ? live.createdAt : now,
        updatedAt: now,
        expiresAt: expiryFrom(now, options.ttlSeconds)?.getTime() ?? null,
        sizeBytes,
        history: cur?.history ?? [],
      };
      next.history = [...next.history, { version: next.version, operation: "put", actor: options.actor ?? null, value: stored, schemaVersion: next.schemaVersion, sizeBytes, at: now }];
      await this.write(ref, next);
      return toRecord(ref, next);
    });
  }

  async delete(ref: StateRef, options: Pick<WriteOptions, "ifVersion" | "actor"> = {}): Promise<DeleteResult> {
    validateRef(ref);
    validateWriteOptions(options);
    return this.exclusive(ref, async () => {
      const cur = await this.read(ref);
      const live = cur && isLive(cur) ? cur : undefined;
      if (options.ifVersion !== undefined && live?.version !== options.ifVersion) {
        throw new VersionConflictError(ref, options.ifVersion, live?.version ?? null);
      }
      if (!live) return { deleted: false, version: null };
      const now = Date.now();
      const version = live.version + 1;
      await this.write(ref, {
        ...live, version, deleted: true, value: null, sizeBytes: 0, updatedAt: now, expiresAt: null,
        history: [...live.history, { version, operation: "delete", actor: options.actor ?? null, value: null, schemaVersion: live.schemaVersion, sizeBytes: 0, at: now }],
      });
      return { deleted: true, version };
    });
  }

  async list(tenant: string, namespace: string, options: ListOptions = {}): Promise<ListPage> {
    validateNamespaceName(namespace);
    const limit = listLimit(options);
    const after = decodeCursor(options.cursor);
    const prefix = options.prefix ?? "";
    const dir = path.join(this.root, tenant, namespace);
    const files = await readdir(dir).catch(() => [] as string[]);
    const entries: ListEntry[] = [];
    for (const file of files) {
      if (!file.endsWith(".json.gz")) continue;
      const a = await this.readFile(path.join(dir, file));
      if (!a || !isLive(a) || !a.key.startsWith(prefix) || (after !== undefined && a.key <= after)) continue;
      entries.push({ key: a.key, version: a.version, updatedAt: new Date(a.updatedAt), expiresAt: a.expiresAt === null ? null : new Date(a.expiresAt), sizeBytes: a.sizeBytes });
    }
    entries.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
    return toPage(entries, limit);
  }

  async history(ref: StateRef, options: HistoryOptions = {}): Promise<HistoryEntry[]> {
    validateRef(ref);
    const limit = listLimit({ limit: options.limit });
    if (options.before !== undefined && (!Number.isSafeInteger(options.before) || options.before < 1)) {
      throw new InvalidError("before must be a positive integer", { field: "before" });
    }
    const a = await this.read(ref);
    if (!a) return [];
    return a.history
      .filter((h) => options.before === undefined || h.version < options.before)
      .reverse()
      .slice(0, limit)
      .map((h) => ({ ...h, at: new Date(h.at) }));
  }

  async getVersion(ref: StateRef, version: number): Promise<HistoryEntry | undefined> {
    validateRef(ref);
    const h = (await this.read(ref))?.history.find((e) => e.version === version);
    return h && { ...h, at: new Date(h.at) };
  }

  async transact(): Promise<never> {
    unsupported(this.name, "transactions");
  }

  async setIfNewer(): Promise<never> {
    unsupported(this.name, "cache");
  }

  async importRecord(tenant: string, record: StateRecord, history: readonly HistoryEntry[] = []): Promise<boolean> {
    const ref = { tenant, namespace: record.namespace, key: record.key };
    validateRef(ref);
    return this.exclusive(ref, async () => {
      const cur = await this.read(ref);
      if (cur && cur.version >= record.version) return false;
      const byVersion = new Map((cur?.history ?? []).map((h) => [h.version, h]));
      for (const h of history) byVersion.set(h.version, { ...h, at: h.at.getTime() });
      await this.write(ref, {
        key: record.key, version: record.version, deleted: false, value: record.value, schemaVersion: record.schemaVersion,
        createdAt: record.createdAt.getTime(), updatedAt: record.updatedAt.getTime(), expiresAt: record.expiresAt?.getTime() ?? null,
        sizeBytes: record.sizeBytes, history: [...byVersion.values()].sort((x, y) => x.version - y.version),
      });
      return true;
    });
  }

  async ping(): Promise<void> {
    await mkdir(this.root, { recursive: true });
  }

  async close(): Promise<void> {}

  private file(ref: StateRef): string {
    // A key becomes a file name: base64url when short enough for any filesystem, else its SHA-256.
    const encoded = Buffer.from(ref.key, "utf8").toString("base64url");
    const name = encoded.length <= 200 ? encoded : `h-${createHash("sha256").update(ref.key).digest("hex")}`;
    return path.join(this.root, ref.tenant, ref.namespace, `${name}.json.gz`);
  }

  private async read(ref: StateRef): Promise<ArchivedKey | undefined> {
    return this.readFile(this.file(ref));
  }

  private async readFile(file: string): Promise<ArchivedKey | undefined> {
    try {
      return JSON.parse(gunzipSync(await readFile(file)).toString("utf8")) as ArchivedKey;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }

  private async write(ref: StateRef, a: ArchivedKey): Promise<void> {
    const file = this.file(ref);
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${randomUUID()}.tmp`;
    await writeFile(tmp, gzipSync(JSON.stringify(a), { level: 6 }));
    await rename(tmp, file);
  }

  private async exclusive<T>(ref: StateRef, fn: () => Promise<T>): Promise<T> {
    const id = refKey(ref);
    const previous = this.locks.get(id) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.catch(() => {});
    this.locks.set(id, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    }
  }
}

function isLive(a: ArchivedKey): boolean {
  return !a.deleted && (a.expiresAt === null || a.expiresAt > Date.now());
}

function toRecord(ref: StateRef, a: ArchivedKey): StateRecord {
  return {
    namespace: ref.namespace, key: ref.key, value: structuredClone(a.value), version: a.version, schemaVersion: a.schemaVersion,
    createdAt: new Date(a.createdAt), updatedAt: new Date(a.updatedAt), expiresAt: a.expiresAt === null ? null : new Date(a.expiresAt),
    sizeBytes: a.sizeBytes,
  };
}
