import { createHash } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import { type BlobStore, FilesystemBlobStore } from "./blob";
import { type S3BlobOptions, S3BlobStore } from "./blob-s3";
import { InvalidError, VersionConflictError } from "./errors";
import {
  type Capability,
  type DeleteResult,
  type EraseResult,
  type HistoryEntry,
  type HistoryOptions,
  type ListEntry,
  type ListOptions,
  type ListPage,
  type StateRecord,
  type StateRef,
  type StateStore,
  type WriteOptions,
  encodeValue,
  listLimit,
  listQuery,
  storedMeta,
  refKey,
  toPage,
  unsupported,
  validateNamespaceName,
  validateRef,
  validateWriteOptions,
  writtenMeta,
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
  idleTtlSeconds?: number | null;
  sizeBytes: number;
  history: {
    version: number;
    operation: "put" | "delete";
    actor: string | null;
    value: unknown;
    schemaVersion: number;
    sizeBytes: number;
    at: number;
  }[];
}

/**
 * The small object that says where a key's archive object is. It also carries what list() needs, so a
 * listing reads pointers only, never the (possibly large) objects with their history.
 */
interface KeyPointer {
  key: string;
  /** `yyyy/mm/dd` (UTC) of the day the key was last archived: its object's folder. */
  partition: string;
  version: number;
  deleted: boolean;
  updatedAt: number;
  expiresAt: number | null;
  sizeBytes: number;
}

export interface ArchiveOptions {
  /** The clock that names partitions (tests move it to another day). */
  now?: () => Date;
  /**
   * Whose a record is (an end user's id), for the namespaces whose records belong to one: the archive
   * then keeps a marker per subject and key, so keysOf() finds a subject's keys without reading every
   * archived object (forgetting a user). Undefined: the record has no subject.
   */
  subjectOf?: (namespace: string, value: unknown) => string | undefined;
}

const KEYS_FOLDER = "_keys";
const SUBJECTS_FOLDER = "_subjects";
const OBJECT_SUFFIX = ".json.gz";
const POINTER_SUFFIX = ".json";
const READ_ATTEMPTS = 5;
/** How many keys' last written versions a process remembers (see readDecoded). */
const REMEMBERED_KEYS = 10_000;

/**
 * The cold tier: every archived key is one gzipped JSON object holding its last record (or tombstone)
 * and its whole history, so restoring a key brings its versions back intact. Objects live in a blob
 * store (a directory, or an S3 bucket) partitioned by tenant, namespace and the day they were archived:
 *
 *   <tenant>/<namespace>/<yyyy>/<mm>/<dd>/<encoded key>.json.gz   the record and its history
 *   <tenant>/<namespace>/_keys/<encoded key>.json                 pointer: which day holds the key
 *
 * so operators can list or expire old days (expireBefore, or by deleting folders), while a read by key
 * stays two object reads (pointer, then object). Re-archiving a key on another day writes the new
 * object, then moves the pointer, then deletes the old object: a reader following the pointer always
 * finds a whole object. Writes to one key are serialized within the process only: across processes
 * the last object written wins, so compare-and-set holds within one process. That suffices for how
 * the tiered store uses it (restores only read; moves from several instances write the same record).
 */
export class ArchiveStore implements StateStore {
  readonly name: string;
  readonly capabilities: ReadonlySet<Capability> = new Set<Capability>(["ttl", "list", "history", "import"]);
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly lastWritten = new Map<string, number>();
  private readonly now: () => Date;
  private readonly subjectOf: ArchiveOptions["subjectOf"];

  constructor(
    readonly blobs: BlobStore,
    options: ArchiveOptions = {},
  ) {
    this.name = blobs.name;
    this.now = options.now ?? (() => new Date());
    this.subjectOf = options.subjectOf;
  }

  /** The archive in a directory (the default cold tier). */
  static onFilesystem(root: string, options?: ArchiveOptions): ArchiveStore {
    return new ArchiveStore(new FilesystemBlobStore(root), options);
  }

  /** The archive in an S3 bucket (AWS or an S3-compatible server). */
  static onS3(s3: S3BlobOptions, options?: ArchiveOptions): ArchiveStore {
    return new ArchiveStore(S3BlobStore.create(s3), options);
  }

  async get(ref: StateRef): Promise<StateRecord | undefined> {
    validateRef(ref);
    const pointer = await this.pointer(ref);
    if (!pointer || !isLive(pointer)) return undefined; // the pointer alone answers for deleted and expired keys
    const a = await this.object(ref, pointer);
    return a && isLive(a) ? toRecord(ref, a) : undefined;
  }

  async put(ref: StateRef, value: unknown, options: WriteOptions = {}): Promise<StateRecord> {
    validateRef(ref);
    validateWriteOptions(options);
    const { json, sizeBytes } = encodeValue(value);
    return this.exclusive(ref, async () => {
      const pointer = await this.pointer(ref);
      // A failed precondition is decided by the pointer alone: the object (with its history) is not read.
      const pointerLive = pointer && isLive(pointer) ? pointer : undefined;
      if (options.createOnly && pointerLive) throw new VersionConflictError(ref, "absent", pointerLive.version);
      if (options.ifVersion !== undefined && pointerLive?.version !== options.ifVersion) {
        throw new VersionConflictError(ref, options.ifVersion, pointerLive?.version ?? null);
      }
      const cur = await this.object(ref, pointer);
      const live = cur && isLive(cur) ? cur : undefined;
      if (options.createOnly && live) throw new VersionConflictError(ref, "absent", live.version);
      if (options.ifVersion !== undefined && live?.version !== options.ifVersion) {
        throw new VersionConflictError(ref, options.ifVersion, live?.version ?? null);
      }
      const now = Date.now();
      const stored = JSON.parse(json) as unknown;
      const next: ArchivedKey = {
        key: ref.key,
        // the pointer remembers the version even if an operator removed the object's partition
        version: Math.max(cur?.version ?? 0, pointer?.version ?? 0) + 1,
        deleted: false,
        value: stored,
        ...writtenMeta(now, options, live ? live.createdAt : now),
        sizeBytes,
        history: cur?.history ?? [],
      };
      if (options.history !== false)
        next.history = [
          ...next.history,
          {
            version: next.version,
            operation: "put",
            actor: options.actor ?? null,
            value: stored,
            schemaVersion: next.schemaVersion,
            sizeBytes,
            at: now,
          },
        ];
      await this.write(ref, next, pointer);
      return toRecord(ref, next);
    });
  }

  async delete(ref: StateRef, options: Pick<WriteOptions, "ifVersion" | "actor"> = {}): Promise<DeleteResult> {
    validateRef(ref);
    validateWriteOptions(options);
    return this.exclusive(ref, async () => {
      const pointer = await this.pointer(ref);
      const cur = pointer && isLive(pointer) ? await this.object(ref, pointer) : undefined;
      const live = cur && isLive(cur) ? cur : undefined;
      if (options.ifVersion !== undefined && live?.version !== options.ifVersion) {
        throw new VersionConflictError(ref, options.ifVersion, live?.version ?? null);
      }
      if (!live) return { deleted: false, version: null };
      const now = Date.now();
      const version = live.version + 1;
      await this.write(
        ref,
        {
          ...live,
          version,
          deleted: true,
          value: null,
          sizeBytes: 0,
          updatedAt: now,
          expiresAt: null,
          history: [
            ...live.history,
            {
              version,
              operation: "delete",
              actor: options.actor ?? null,
              value: null,
              schemaVersion: live.schemaVersion,
              sizeBytes: 0,
              at: now,
            },
          ],
        },
        pointer,
      );
      return { deleted: true, version };
    });
  }

  async erase(ref: StateRef): Promise<EraseResult> {
    validateRef(ref);
    return this.exclusive(ref, async () => {
      const pointer = await this.pointer(ref);
      if (!pointer) return { erased: false, version: null };
      const subject = this.subjectOfArchived(ref, await this.object(ref, pointer));
      // The object (value and history) first: a pointer left by a failure in between leads to a miss, never to data.
      await this.blobs.delete(this.objectPath(ref, pointer.partition));
      if (subject) await this.blobs.delete(this.subjectPath(ref, subject));
      await this.blobs.delete(this.pointerPath(ref));
      this.lastWritten.delete(refKey(ref));
      return { erased: true, version: pointer.version };
    });
  }

  async list(tenant: string, namespace: string, options: ListOptions = {}): Promise<ListPage> {
    const { limit, after, prefix } = listQuery(namespace, options);
    const folder = `${tenant}/${namespace}/${KEYS_FOLDER}/`;
    // Pointer names decode to their keys, so filtering and ordering cost one listing; only keys too
    // long for a name (stored under a hash) need their pointer read to learn the key.
    const candidates: { key: string; path: string; pointer?: KeyPointer }[] = [];
    for (const objectPath of await this.blobs.list(folder)) {
      const name = objectPath.slice(folder.length);
      if (!name.endsWith(POINTER_SUFFIX) || name.includes("/")) continue;
      const encoded = name.slice(0, -POINTER_SUFFIX.length);
      let key = decodeKeyName(encoded);
      let pointer: KeyPointer | undefined;
      if (key === undefined) {
        pointer = await this.readDecoded(objectPath, decodePointer);
        if (!pointer) continue;
        key = pointer.key;
      }
      if (key.startsWith(prefix) && (after === undefined || key > after))
        candidates.push({ key, path: objectPath, pointer });
    }
    candidates.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
    const entries: ListEntry[] = [];
    // Read pointers a page at a time until the page (plus one, to know whether more follow) is full of live keys.
    for (let i = 0; i < candidates.length && entries.length <= limit; i += limit + 1) {
      const batch = candidates.slice(i, i + limit + 1);
      const pointers = await Promise.all(batch.map(async (c) => c.pointer ?? this.readDecoded(c.path, decodePointer)));
      pointers.forEach((p, j) => {
        if (!p || !isLive(p) || p.key !== batch[j]!.key) return;
        entries.push({
          key: p.key,
          version: p.version,
          updatedAt: new Date(p.updatedAt),
          expiresAt: p.expiresAt === null ? null : new Date(p.expiresAt),
          sizeBytes: p.sizeBytes,
        });
      });
    }
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

  async touch(ref: StateRef, version: number): Promise<Date | undefined> {
    validateRef(ref);
    return this.exclusive(ref, async () => {
      const pointer = await this.pointer(ref);
      const a = pointer && isLive(pointer) ? await this.object(ref, pointer) : undefined;
      if (!a || !isLive(a) || a.version !== version || !a.idleTtlSeconds) return undefined;
      a.expiresAt = Math.max(a.expiresAt ?? 0, Date.now() + Math.round(a.idleTtlSeconds * 1000));
      await this.write(ref, a, pointer);
      return new Date(a.expiresAt);
    });
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
      const pointer = await this.pointer(ref);
      if (pointer && pointer.version >= record.version) return false;
      const cur = await this.object(ref, pointer);
      const byVersion = new Map((cur?.history ?? []).map((h) => [h.version, h]));
      for (const h of history) byVersion.set(h.version, { ...h, at: h.at.getTime() });
      await this.write(
        ref,
        {
          key: record.key,
          version: record.version,
          deleted: false,
          value: record.value,
          ...storedMeta(record),
          sizeBytes: record.sizeBytes,
          history: [...byVersion.values()].sort((x, y) => x.version - y.version),
        },
        pointer,
      );
      return true;
    });
  }

  /**
   * The keys of `namespace` archived as `subject`'s (see ArchiveOptions.subjectOf), with their archived
   * value (the last one before a deletion or expiry). Each is checked against its object: a key archived
   * again since under another subject is not answered.
   */
  async keysOf(tenant: string, namespace: string, subject: string): Promise<{ key: string; value: unknown }[]> {
    validateNamespaceName(namespace);
    const folder = `${tenant}/${namespace}/${SUBJECTS_FOLDER}/${subjectName(subject)}/`;
    const found: { key: string; value: unknown }[] = [];
    for (const marker of await this.blobs.list(folder)) {
      const body = await this.blobs.get(marker);
      const key = body && (JSON.parse(body.toString("utf8")) as { key?: unknown }).key;
      if (typeof key !== "string") continue;
      const a = await this.read({ tenant, namespace, key });
      if (a && this.subjectOfArchived({ tenant, namespace, key }, a) === subject)
        found.push({ key, value: lastValue(a) });
      else await this.blobs.delete(marker); // its object expired (expireBefore), or is someone else's now
    }
    return found;
  }

  /** Whose the archived key is: its subject as of its last value. */
  private subjectOfArchived(ref: StateRef, a: ArchivedKey | undefined): string | undefined {
    return a && this.subjectOf?.(ref.namespace, lastValue(a));
  }

  private subjectPath(ref: StateRef, subject: string): string {
    return `${ref.tenant}/${ref.namespace}/${SUBJECTS_FOLDER}/${subjectName(subject)}/${keyName(ref.key)}${POINTER_SUFFIX}`;
  }

  /**
   * Forgets every key of a namespace last archived before `day` (UTC, whole days): its pointer first,
   * so no reader is sent to a missing object, then its object. Returns how many keys were removed.
   * Keys re-archived since live in a newer partition and are kept.
   */
  async expireBefore(tenant: string, namespace: string, day: Date): Promise<number> {
    validateNamespaceName(namespace);
    const cutoff = partitionOf(day);
    const folder = `${tenant}/${namespace}/`;
    let removed = 0;
    for (const objectPath of await this.blobs.list(folder)) {
      const rest = objectPath.slice(folder.length);
      const match = /^(\d{4}\/\d{2}\/\d{2})\/([^/]+)\.json\.gz$/.exec(rest);
      if (!match || match[1]! >= cutoff) continue;
      const [, partition, encoded] = match;
      const key =
        decodeKeyName(encoded!) ??
        (await this.readDecoded(`${folder}${KEYS_FOLDER}/${encoded}${POINTER_SUFFIX}`, decodePointer))?.key;
      if (key === undefined) {
        await this.blobs.delete(objectPath); // no pointer names it: left by an interrupted move
        continue;
      }
      const ref = { tenant, namespace, key };
      await this.exclusive(ref, async () => {
        // Read under the lock: a write may just have moved the key to today's partition.
        if ((await this.pointer(ref))?.partition === partition) {
          await this.blobs.delete(this.pointerPath(ref));
          this.lastWritten.delete(refKey(ref));
          removed++;
        }
        await this.blobs.delete(objectPath);
      });
    }
    return removed;
  }

  async ping(): Promise<void> {
    await this.blobs.ping();
  }

  async close(): Promise<void> {
    await this.blobs.close();
  }

  private pointerPath(ref: StateRef): string {
    return `${ref.tenant}/${ref.namespace}/${KEYS_FOLDER}/${keyName(ref.key)}${POINTER_SUFFIX}`;
  }

  private objectPath(ref: StateRef, partition: string): string {
    return `${ref.tenant}/${ref.namespace}/${partition}/${keyName(ref.key)}${OBJECT_SUFFIX}`;
  }

  private async pointer(ref: StateRef): Promise<KeyPointer | undefined> {
    // A pointer this process wrote must read back at least as new (and not as missing).
    const pointer = await this.readDecoded(this.pointerPath(ref), decodePointer, {
      minVersion: this.lastWritten.get(refKey(ref)),
      missIsFinal: false,
    });
    return pointer?.key === ref.key ? pointer : undefined; // a hashed name could, in theory, be another key's
  }

  private async read(ref: StateRef): Promise<ArchivedKey | undefined> {
    return this.object(ref, await this.pointer(ref));
  }

  /** The key's archive object, found through its pointer. */
  private async object(ref: StateRef, pointer: KeyPointer | undefined): Promise<ArchivedKey | undefined> {
    let current = pointer;
    for (let attempt = 0; current; attempt++) {
      // The object is written before its pointer: one older than the pointer (or missing) is a stale read.
      const a = await this.readDecoded(this.objectPath(ref, current.partition), decodeArchived, {
        minVersion: current.version,
      });
      if (a) return a;
      // Missing: either the key moved to a newer partition between our two reads (follow the new
      // pointer once), or an operator deleted its partition (the key is no longer archived).
      if (attempt > 0) return undefined;
      const again = await this.pointer(ref);
      if (!again || again.partition === current.partition) return undefined;
      current = again;
    }
    return undefined;
  }

  /**
   * Reads and decodes an object, reading it again while it does not decode or is older than
   * `minVersion`. Some S3-compatible servers are not atomic or not read-after-write consistent on
   * overwrites (s3rver answers a PUT before the bytes are on disk, and overwrites in place): a read may
   * be torn (a strict prefix of gzip or JSON never decodes) or stale (older than what this process
   * last wrote, or than the pointer that led to it, or missing although written). Filesystem renames
   * and AWS S3 are atomic and consistent: one read. An outdated copy that persists is an error, never
   * a silent lost update; a miss that persists is a miss when `missIsFinal` (an operator deleted it).
   */
  private async readDecoded<T extends { version: number }>(
    objectPath: string,
    decode: (body: Buffer) => T,
    expected: { minVersion?: number; missIsFinal?: boolean } = {},
  ): Promise<T | undefined> {
    const { minVersion, missIsFinal = true } = expected;
    for (let attempt = 1; ; attempt++) {
      const body = await this.blobs.get(objectPath);
      const last = attempt === READ_ATTEMPTS;
      if (!body) {
        if (minVersion === undefined || (last && missIsFinal)) return undefined;
      } else {
        let value: T | undefined;
        try {
          value = decode(body);
        } catch (err) {
          if (last) throw err;
        }
        if (value && (minVersion === undefined || value.version >= minVersion)) return value;
      }
      if (last) throw new Error(`${this.name} archive kept serving an outdated copy of an object`);
      await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
    }
  }

  /** Remembers the version this process last wrote for a key, so its own later reads never go back. */
  private remember(ref: StateRef, version: number): void {
    const id = refKey(ref);
    this.lastWritten.delete(id);
    this.lastWritten.set(id, version);
    if (this.lastWritten.size > REMEMBERED_KEYS) this.lastWritten.delete(this.lastWritten.keys().next().value!);
  }

  private async write(ref: StateRef, a: ArchivedKey, previous: KeyPointer | undefined): Promise<void> {
    const partition = partitionOf(this.now());
    await this.blobs.put(this.objectPath(ref, partition), gzipSync(JSON.stringify(a), { level: 6 }));
    const subject = this.subjectOfArchived(ref, a);
    if (subject) await this.blobs.put(this.subjectPath(ref, subject), Buffer.from(JSON.stringify({ key: a.key })));
    const pointer: KeyPointer = {
      key: a.key,
      partition,
      version: a.version,
      deleted: a.deleted,
      updatedAt: a.updatedAt,
      expiresAt: a.expiresAt,
      sizeBytes: a.sizeBytes,
    };
    await this.blobs.put(this.pointerPath(ref), Buffer.from(JSON.stringify(pointer)));
    this.remember(ref, a.version);
    // Only after the pointer moved: until then readers still need the old object.
    if (previous && previous.partition !== partition) await this.blobs.delete(this.objectPath(ref, previous.partition));
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

/** The archive in a directory; kept as its own name for the places that build one directly. */
export class FilesystemArchive extends ArchiveStore {
  constructor(
    readonly root: string,
    options?: ArchiveOptions,
  ) {
    super(new FilesystemBlobStore(root), options);
  }
}

function decodePointer(body: Buffer): KeyPointer {
  return JSON.parse(body.toString("utf8")) as KeyPointer;
}

function decodeArchived(body: Buffer): ArchivedKey {
  return JSON.parse(gunzipSync(body).toString("utf8")) as ArchivedKey;
}

/** A record's last value: the live one, or for a deleted key the one before its deletion. */
function lastValue(a: ArchivedKey): unknown {
  if (!a.deleted) return a.value;
  for (let i = a.history.length - 1; i >= 0; i--) if (a.history[i]!.value !== null) return a.history[i]!.value;
  return null;
}

/** A subject as a folder name: hashed, so the archive's listing never shows a user id. */
function subjectName(subject: string): string {
  return createHash("sha256").update(subject).digest("hex").slice(0, 40);
}

/** `yyyy/mm/dd` in UTC. */
function partitionOf(day: Date): string {
  return day.toISOString().slice(0, 10).replaceAll("-", "/");
}

/** A key as an object name: base64url while short enough for any filesystem (255 bytes), else its SHA-256. */
function keyName(key: string): string {
  const encoded = Buffer.from(key, "utf8").toString("base64url");
  return encoded.length <= 200 ? encoded : `h-${createHash("sha256").update(key).digest("hex")}`;
}

/** The key a name stands for, or undefined for a hashed name (its pointer holds the key). */
function decodeKeyName(name: string): string | undefined {
  if (name.startsWith("h-")) return undefined; // base64url of a key never starts with "h-": that would need a first byte 0x87
  return Buffer.from(name, "base64url").toString("utf8");
}

function isLive(a: Pick<ArchivedKey, "deleted" | "expiresAt">): boolean {
  return !a.deleted && (a.expiresAt === null || a.expiresAt > Date.now());
}

function toRecord(ref: StateRef, a: ArchivedKey): StateRecord {
  return {
    namespace: ref.namespace,
    key: ref.key,
    value: structuredClone(a.value),
    version: a.version,
    schemaVersion: a.schemaVersion,
    createdAt: new Date(a.createdAt),
    updatedAt: new Date(a.updatedAt),
    expiresAt: a.expiresAt === null ? null : new Date(a.expiresAt),
    idleTtlSeconds: a.idleTtlSeconds ?? null,
    sizeBytes: a.sizeBytes,
  };
}
