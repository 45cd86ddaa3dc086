import { InvalidError, StateError } from "./errors";
import { MAX_VALUE_NESTING, measureJson } from "./json-measure";

/**
 * The one store contract. Every tier (memory, Redis, PostgreSQL/PGlite, archive) implements it, and so
 * do the wrappers (guarded, instrumented) and the tiered composition. test/conformance/state-store.ts
 * is the executable form of this file: a store keeps the contract when it passes that suite.
 */

/** Where a record lives. Tenants never see each other's records: the tenant is part of every address. */
export interface StateRef {
  readonly tenant: string;
  readonly namespace: string;
  readonly key: string;
}

export type TierName = "hot" | "warm" | "cold";

export interface StateRecord {
  readonly namespace: string;
  readonly key: string;
  readonly value: unknown;
  /** Starts at 1, +1 on every change (puts and deletes), never reused for a key while any tier remembers it. */
  readonly version: number;
  readonly schemaVersion: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly expiresAt: Date | null;
  /**
   * Set when the record expires after this many seconds without access (sliding): each read may push
   * `expiresAt` forward through touch(). Null or absent: `expiresAt` is absolute (or there is none).
   */
  readonly idleTtlSeconds?: number | null;
  /** UTF-8 length of the value's JSON text. */
  readonly sizeBytes: number;
  /** Which tier answered, set by reads of the tiered store. */
  readonly tier?: TierName;
  /** False for a write buffered in hot while warm was down: accepted, not yet durable. */
  readonly durable?: false;
}

export interface ReadOptions {
  /** "strong" reads skip caches and ask the source of truth. */
  readonly consistency?: "eventual" | "strong";
}

export interface WriteOptions {
  /** Write only if the live record is at exactly this version (compare-and-set). */
  readonly ifVersion?: number;
  /** Write only if no live record exists (expired and deleted records count as absent). */
  readonly createOnly?: boolean;
  /** Absolute time-to-live from this write; absent = no expiry. Must be > 0. Wins over idleTtlSeconds. */
  readonly ttlSeconds?: number;
  /** Sliding time-to-live: the record expires this long after its last write or touch. Ignored with ttlSeconds. */
  readonly idleTtlSeconds?: number;
  readonly schemaVersion?: number;
  /** Who made the change, kept in history. */
  readonly actor?: string;
  /** false: record no history entry for this write (records written once, whose history would only repeat them). */
  readonly history?: false;
}

export interface DeleteResult {
  /** False when there was no live record (and no version was required). */
  readonly deleted: boolean;
  /** The tombstone's version when deleted. */
  readonly version: number | null;
}

export interface EraseResult {
  /** False when the store held nothing of the key: no record, tombstone, copy or past version. */
  readonly erased: boolean;
  /** The highest version the store held of the key (live, deleted or archived), null when none. */
  readonly version: number | null;
}

export interface ListOptions {
  readonly prefix?: string;
  /** 1..1000, default 100. */
  readonly limit?: number;
  /** Opaque, from a previous page's `nextCursor`. */
  readonly cursor?: string;
}

export interface ListEntry {
  readonly key: string;
  readonly version: number;
  readonly updatedAt: Date;
  readonly expiresAt: Date | null;
  readonly sizeBytes: number;
}

export interface ListPage {
  readonly items: ListEntry[];
  /** Present when more keys may follow. */
  readonly nextCursor?: string;
}

export interface HistoryEntry {
  readonly version: number;
  readonly operation: "put" | "delete";
  readonly actor: string | null;
  /** The value as of this version; null for a delete. */
  readonly value: unknown;
  readonly schemaVersion: number;
  readonly sizeBytes: number;
  readonly at: Date;
}

export interface HistoryOptions {
  readonly limit?: number;
  /** Only versions strictly below this one. */
  readonly before?: number;
}

/** One operation of an all-or-nothing transaction. */
export type TransactionOp =
  | { readonly op: "put"; readonly ref: StateRef; readonly value: unknown; readonly options?: WriteOptions }
  | { readonly op: "delete"; readonly ref: StateRef; readonly options?: Pick<WriteOptions, "ifVersion" | "actor"> };

export type TransactionResult =
  | { readonly op: "put"; readonly record: StateRecord }
  | { readonly op: "delete"; readonly result: DeleteResult };

/**
 * What a store can do beyond get/put/delete. Declared, never guessed: a caller checks the set, and the
 * conformance suite checks that an undeclared ability answers `unsupported`.
 * - ttl: honours ttlSeconds; expired records are never returned.
 * - list: list(tenant, namespace, options) pages through live keys.
 * - history: history() and getVersion() return past versions.
 * - transactions: transact() applies several operations all or nothing.
 * - cache: setIfNewer() stores a copy made elsewhere unless a newer version is already there.
 * - import: importRecord() restores a record (and its history) at its original version.
 */
export type Capability = "ttl" | "list" | "history" | "transactions" | "cache" | "import";

export interface StateStore {
  /** The backend's name, e.g. "redis", "postgres", "filesystem", "tiered". */
  readonly name: string;
  readonly capabilities: ReadonlySet<Capability>;

  /** The live record, or undefined when absent, deleted or expired. */
  get(ref: StateRef, options?: ReadOptions): Promise<StateRecord | undefined>;

  /**
   * Creates or replaces the value, +1 on the version. Throws `version_conflict` (with the current
   * version) when `ifVersion`/`createOnly` do not hold; `invalid` for a bad ref, value or TTL. Nothing
   * is written when it throws.
   */
  put(ref: StateRef, value: unknown, options?: WriteOptions): Promise<StateRecord>;

  /** Deletes the live record, leaving a tombstone that keeps its version. `version_conflict` if `ifVersion` does not hold. */
  delete(ref: StateRef, options?: Pick<WriteOptions, "ifVersion" | "actor">): Promise<DeleteResult>;

  /**
   * Forgets a key as if it had never been written: its record or tombstone, every past version and any
   * copy of it, with no tombstone left (a key can carry personal data: a tombstone would keep it). The
   * version count starts again at 1; callers that cache (the tiered store) leave their own short-lived
   * marker above `version` so no older copy can come back. Stores that keep an outbox redact the key's
   * events. Not conditional and not part of transactions: erasure is not an edit.
   */
  erase(ref: StateRef): Promise<EraseResult>;

  /** Live keys of a namespace in a stable order, each exactly once across pages. Capability "list". */
  list(tenant: string, namespace: string, options?: ListOptions): Promise<ListPage>;

  /** Versions of a key, newest first. Capability "history". */
  history(ref: StateRef, options?: HistoryOptions): Promise<HistoryEntry[]>;

  /** One past version, or undefined. Capability "history". */
  getVersion(ref: StateRef, version: number): Promise<HistoryEntry | undefined>;

  /**
   * All operations or none; throws the first failing operation's error, its index in `ops` as
   * `details.operation` (so a 412 can say which one). Capability "transactions".
   */
  transact(ops: readonly TransactionOp[]): Promise<TransactionResult[]>;

  /**
   * Stores `record` (made by another tier) unless this store holds the same or a newer version of the
   * key, live or deleted (a Tombstone records a deletion). The copy is dropped after `cacheTtlMs` (or the
   * store's default) unless written again. Returns whether it wrote. Capability "cache".
   */
  setIfNewer(tenant: string, record: StateRecord | Tombstone, cacheTtlMs?: number): Promise<boolean>;

  /**
   * Restores a record with its version and history unless this store has the same or a newer version
   * (a tombstone at the same version, left by dropArchived, does not count). Capability "import".
   */
  importRecord(tenant: string, record: StateRecord, history?: readonly HistoryEntry[]): Promise<boolean>;

  /**
   * Pushes the expiry of a live record with an idle TTL to now + its idle TTL, if it is still at
   * `version` (no version change, no history: an access is not a change). Returns the new expiry, or
   * undefined when there was nothing to touch (absent, expired, other version, no idle TTL).
   * Capability "ttl".
   */
  touch(ref: StateRef, version: number): Promise<Date | undefined>;

  /**
   * For a record just copied to the archive: drops its value and all its history, leaving a slim row
   * marked archived at the same version, only if the record is still at exactly `version` (live or
   * expired). The row keeps the key's version count and is never served; importing the archived record
   * at that version restores it over the row. Returns whether it dropped the record. Warm tier only.
   */
  dropArchived?(ref: StateRef, version: number): Promise<boolean>;

  /** Total live keys and bytes per namespace, for gauges. */
  stats?(): Promise<NamespaceStats[]>;

  /** A cheap round trip that proves the backend answers. */
  ping(): Promise<void>;

  close(): Promise<void>;
}

/** A record's address and version as a hot tier holds it, for the lifecycle sweeper's orphan check. */
export interface CopyRef extends StateRef {
  readonly version: number;
}

/**
 * What the lifecycle sweeper needs of a hot tier beyond the contract: to walk the copies it holds and
 * drop one (only at the version seen, so a copy written meanwhile stays).
 */
export interface CopyScanner {
  scanCopies(pageSize?: number): AsyncGenerator<CopyRef[]>;
  evict(ref: StateRef, version: number): Promise<boolean>;
}

export interface Tombstone {
  readonly namespace: string;
  readonly key: string;
  readonly version: number;
  readonly deleted: true;
}

export interface NamespaceStats {
  readonly namespace: string;
  readonly keys: number;
  readonly bytes: number;
}

export function isTombstone(r: StateRecord | Tombstone): r is Tombstone {
  return (r as Tombstone).deleted === true;
}

// ---------------------------------------------------------------------------------------------
// Validation shared by every store, so they reject exactly the same inputs.

/** The record operations every tier implements; wrappers that treat each alike (guards, error mapping) list these. */
export const RECORD_OPERATIONS = [
  "get",
  "put",
  "delete",
  "erase",
  "list",
  "history",
  "getVersion",
  "transact",
] as const;

export const LIMITS = {
  /** Versions are 32-bit in PostgreSQL; anything above can never match a record. */
  maxVersion: 2_147_483_647,
  /** UTF-8 bytes of a key. */
  maxKeyBytes: 512,
  /** A hard ceiling below every policy's own limit; policies set the real ones. */
  maxValueBytes: 8 * 1024 * 1024,
  maxTtlSeconds: 10 * 365 * 24 * 3600,
  /** Containers a stored value may nest (objects and arrays on one path). */
  maxNesting: MAX_VALUE_NESTING,
  maxListLimit: 1000,
  defaultListLimit: 100,
} as const;

const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
// Control characters break logs, headers and some stores' key syntax.
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Throws `invalid` unless the ref is well formed. */
export function validateRef(ref: StateRef): void {
  if (typeof ref?.tenant !== "string" || !NAME.test(ref.tenant)) {
    throw new InvalidError("tenant must match [a-z0-9][a-z0-9_-]{0,63}", { field: "tenant" });
  }
  validateNamespaceName(ref.namespace);
  validateKey(ref.key);
}

export function validateNamespaceName(namespace: string): void {
  if (typeof namespace !== "string" || !NAME.test(namespace)) {
    throw new InvalidError("namespace must match [a-z0-9][a-z0-9_-]{0,63}", { field: "namespace" });
  }
}

export function validateKey(key: string): void {
  if (typeof key !== "string" || key.length === 0) throw new InvalidError("key must not be empty", { field: "key" });
  if (Buffer.byteLength(key, "utf8") > LIMITS.maxKeyBytes) {
    throw new InvalidError(`key must be at most ${LIMITS.maxKeyBytes} bytes of UTF-8`, { field: "key" });
  }
  if (CONTROL.test(key)) throw new InvalidError("key must not contain control characters", { field: "key" });
  if (!key.isWellFormed()) throw new InvalidError("key must be well-formed unicode", { field: "key" });
}

/**
 * Serializes a value as stored: throws `invalid` unless it is plain JSON (no undefined, functions,
 * NaN/Infinity, BigInt, cycles, nesting over LIMITS.maxNesting) and `too_large` over the hard ceiling,
 * found by measuring first: a value over the ceiling is never serialized. Returns the JSON text and its size.
 */
export function encodeValue(value: unknown): { json: string; sizeBytes: number } {
  const { sizeBytes, over } = measureJson(value, LIMITS.maxValueBytes);
  if (over) {
    throw new StateError("too_large", `value is over the ${LIMITS.maxValueBytes} byte ceiling`, {
      limitBytes: LIMITS.maxValueBytes,
    });
  }
  return { json: JSON.stringify(value), sizeBytes };
}

export function validateWriteOptions(options: WriteOptions | undefined): void {
  if (!options) return;
  const { ifVersion, ttlSeconds, idleTtlSeconds, createOnly, schemaVersion } = options;
  if (ifVersion !== undefined && (!Number.isSafeInteger(ifVersion) || ifVersion < 1 || ifVersion > LIMITS.maxVersion)) {
    throw new InvalidError(`ifVersion must be an integer in [1, ${LIMITS.maxVersion}]`, { field: "ifVersion" });
  }
  if (createOnly && ifVersion !== undefined) {
    throw new InvalidError("createOnly and ifVersion cannot be combined", { field: "ifVersion" });
  }
  validateTtl("ttlSeconds", ttlSeconds);
  validateTtl("idleTtlSeconds", idleTtlSeconds);
  if (
    schemaVersion !== undefined &&
    (!Number.isSafeInteger(schemaVersion) || schemaVersion < 1 || schemaVersion > LIMITS.maxVersion)
  ) {
    throw new InvalidError("schemaVersion must be a positive integer", { field: "schemaVersion" });
  }
}

/** Throws `invalid` naming `field` unless `seconds` is absent or a number in (0, maxTtlSeconds]. */
function validateTtl(field: "ttlSeconds" | "idleTtlSeconds", seconds: unknown): void {
  if (seconds === undefined) return;
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds <= 0 || seconds > LIMITS.maxTtlSeconds)
    throw new InvalidError(`${field} must be a number in (0, ${LIMITS.maxTtlSeconds}]`, { field });
}

/** Throws `invalid` unless the prefix could begin a valid key (it reaches SQL and Redis as text). */
export function validatePrefix(prefix: string | undefined): void {
  if (prefix === undefined || prefix === "") return;
  if (
    typeof prefix !== "string" ||
    Buffer.byteLength(prefix, "utf8") > LIMITS.maxKeyBytes ||
    CONTROL.test(prefix) ||
    !prefix.isWellFormed()
  ) {
    throw new InvalidError("prefix must be at most 512 bytes of well-formed unicode without control characters", {
      field: "prefix",
    });
  }
}

/**
 * A list call's request, checked in the order every store reports it (namespace, prefix and limit,
 * cursor; each throws `invalid`): the page size, the key to start after, and the key prefix.
 */
export function listQuery(
  namespace: string,
  options: ListOptions,
): { limit: number; after: string | undefined; prefix: string } {
  validateNamespaceName(namespace);
  return { limit: listLimit(options), after: decodeCursor(options.cursor), prefix: options.prefix ?? "" };
}

export function listLimit(options: ListOptions | undefined): number {
  validatePrefix(options?.prefix);
  const limit = options?.limit ?? LIMITS.defaultListLimit;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > LIMITS.maxListLimit) {
    throw new InvalidError(`limit must be an integer in [1, ${LIMITS.maxListLimit}]`, { field: "limit" });
  }
  return limit;
}

/**
 * A page from entries in key order, of which there may be more than `limit` (stores fetch one extra
 * to know whether another page follows): the first `limit`, and a cursor after the last of them.
 */
export function toPage(entries: readonly ListEntry[], limit: number): ListPage {
  const items = entries.slice(0, limit);
  return entries.length > limit ? { items, nextCursor: encodeCursor(items[items.length - 1]!.key) } : { items };
}

/** Cursors are the last key of the previous page, base64url so they survive query strings. */
export function encodeCursor(lastKey: string): string {
  return Buffer.from(lastKey, "utf8").toString("base64url");
}

export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined || cursor === "") return undefined;
  const key = /^[A-Za-z0-9_-]+$/.test(cursor) ? Buffer.from(cursor, "base64url").toString("utf8") : "";
  // A cursor is a key we issued: anything that does not round-trip to a valid key was not.
  if (
    key === "" ||
    Buffer.from(key, "utf8").toString("base64url") !== cursor ||
    CONTROL.test(key) ||
    Buffer.byteLength(key) > LIMITS.maxKeyBytes
  ) {
    throw new InvalidError("cursor is not one this server issued", { field: "cursor" });
  }
  return key;
}

export function expiryFrom(now: number, ttlSeconds: number | undefined): Date | null {
  return ttlSeconds === undefined ? null : new Date(now + Math.round(ttlSeconds * 1000));
}

/**
 * A write's expiry rule: an absolute TTL when it names one (the idle TTL is then ignored), else a
 * sliding one from now, else none.
 */
export function expiryOf(
  now: number,
  options: Pick<WriteOptions, "ttlSeconds" | "idleTtlSeconds">,
): { expiresAt: Date | null; idleTtlSeconds: number | null } {
  if (options.ttlSeconds !== undefined) return { expiresAt: expiryFrom(now, options.ttlSeconds), idleTtlSeconds: null };
  if (options.idleTtlSeconds !== undefined)
    return { expiresAt: expiryFrom(now, options.idleTtlSeconds), idleTtlSeconds: options.idleTtlSeconds };
  return { expiresAt: null, idleTtlSeconds: null };
}

/** A version's metadata as the memory and archive tiers keep it: times in ms since the epoch. */
export interface StoredMeta {
  schemaVersion: number;
  createdAt: number;
  updatedAt: number;
  expiresAt: number | null;
  idleTtlSeconds: number | null;
}

/** The metadata of `record` as a tier that keeps times in ms stores it (an imported or copied record). */
export function storedMeta(record: StateRecord): StoredMeta {
  return {
    schemaVersion: record.schemaVersion,
    createdAt: record.createdAt.getTime(),
    updatedAt: record.updatedAt.getTime(),
    expiresAt: record.expiresAt?.getTime() ?? null,
    idleTtlSeconds: record.idleTtlSeconds ?? null,
  };
}

/**
 * The metadata of the version a put writes at `now` (ms since the epoch): its schema version, when the
 * key was created (`createdAt`: the replaced live version's, or `now`), and its expiry from `options`.
 */
export function writtenMeta(now: number, options: WriteOptions, createdAt: number): StoredMeta {
  const expiry = expiryOf(now, options);
  return {
    schemaVersion: options.schemaVersion ?? 1,
    createdAt,
    updatedAt: now,
    expiresAt: expiry.expiresAt?.getTime() ?? null,
    idleTtlSeconds: expiry.idleTtlSeconds,
  };
}

/** Every version a store keeps of a key, oldest first, read a page at a time (history pages come newest first). */
export async function fullHistory(store: Pick<StateStore, "history">, ref: StateRef): Promise<HistoryEntry[]> {
  const all: HistoryEntry[] = [];
  let before: number | undefined;
  for (;;) {
    const page = await store.history(ref, { limit: LIMITS.maxListLimit, before });
    all.push(...page);
    if (page.length < LIMITS.maxListLimit) return all.reverse();
    before = page[page.length - 1]!.version;
  }
}

export function unsupported(store: string, what: string): never {
  throw new StateError("unsupported", `${store} does not support ${what}`);
}

export function refKey(ref: StateRef): string {
  return `${ref.tenant}\u0000${ref.namespace}\u0000${ref.key}`;
}
