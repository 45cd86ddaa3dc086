import { InvalidError, isStateError, type StateError, VersionConflictError } from "./errors";
import { type JournalEntry, newJournalId, type WriteJournal } from "./journal";
import type {
  Capability,
  DeleteResult,
  EraseResult,
  HistoryEntry,
  HistoryOptions,
  ListOptions,
  ListPage,
} from "./store";
import type { ReadOptions, StateRecord, StateRef, StateStore, Tombstone, TransactionOp } from "./store";
import type { TransactionResult, WriteOptions } from "./store";
import { fullHistory, refKey, unsupported, validateRef } from "./store";

export type Durability = "durable" | "ephemeral";

export interface TieredStoreOptions {
  /** Redis or the in-process hot tier: a cache for durable namespaces, the only copy for ephemeral ones. */
  hot: StateStore;
  /** PostgreSQL or PGlite: the source of truth for durable namespaces. */
  warm: StateStore;
  /** The archive; reads of archived keys restore them. */
  cold?: StateStore;
  /** Where a namespace's state lives; throws `unknown_namespace` for undeclared ones. */
  durabilityOf(namespace: string): Durability;
  /** How long a promoted copy stays hot, per namespace (ms); undefined = the hot tier's default. */
  hotTtlMsOf?(namespace: string): number | undefined;
  /** Told when a hot copy could not be updated after a durable write (the key is kept out of hot until repaired). */
  onHotWriteFailed?(ref: StateRef, err: unknown): void;
  /** What a namespace wants when warm is down: reject (503) or buffer in the journal (202). */
  whenWarmDownOf?(namespace: string): "reject" | "buffer";
  /**
   * The hot tier as buffering uses it (default: `hot`). While warm is down hot is the version authority:
   * a compare-and-set that timed out but was applied later would leave a version no journal entry
   * carries, and the next buffered write on top of it could not be replayed. So the container gives
   * these calls a longer timeout than reads, on the same connection health.
   */
  bufferHot?: StateStore;
  /** Where buffered writes wait for warm; required for "buffer". */
  journal?: WriteJournal;
  /** Told when a buffered write could not be applied to warm (its version check failed): it is dropped. */
  onBufferedDropped?(entry: JournalEntry, reason: string): void;
}

/**
 * The composition of the tiers, itself a StateStore (and so held to the same conformance suite).
 * Durable namespaces: reads go hot → warm → cold, promoting what they find (never over a newer hot
 * copy); writes are one warm round trip (record + history + outbox) and then one hot command that sets
 * the copy only if it is newer. Ephemeral namespaces live in the hot tier alone, compare-and-set there.
 */
export class TieredStore implements StateStore {
  readonly name = "tiered";
  readonly capabilities: ReadonlySet<Capability>;
  /**
   * Keys whose hot copy may be stale because a hot write failed after warm accepted the change. Reads
   * skip hot for them; they are repaired (the newest version set in hot) before being served from hot.
   */
  private readonly staleInHot = new Map<string, { tenant: string; record: StateRecord | Tombstone }>();
  private readonly repairTimer: NodeJS.Timeout;
  /** True while buffered writes may be waiting: durable writes replay them first, to keep order. */
  private journalPending = false;

  constructor(private readonly tiers: TieredStoreOptions) {
    const warmCaps = tiers.warm.capabilities;
    this.capabilities = new Set<Capability>(
      (["ttl", "list", "history", "transactions"] as const).filter((c) => warmCaps.has(c)),
    );
    this.repairTimer = setInterval(() => {
      void this.repairHot();
      void this.replayJournal().catch(() => {});
    }, 1000);
    this.repairTimer.unref();
  }

  get hot(): StateStore {
    return this.tiers.hot;
  }
  get warm(): StateStore {
    return this.tiers.warm;
  }
  get cold(): StateStore | undefined {
    return this.tiers.cold;
  }

  async get(ref: StateRef, options: ReadOptions = {}): Promise<StateRecord | undefined> {
    validateRef(ref);
    const { hot, warm } = this.tiers;
    if (this.tiers.durabilityOf(ref.namespace) === "ephemeral") return servedHot(await hot.get(ref));

    if (options.consistency !== "strong" && (this.staleInHot.size === 0 || !this.staleInHot.has(refKey(ref)))) {
      try {
        const hit = await hot.get(ref);
        if (hit) return servedHot(hit);
      } catch (err) {
        if (!isUnavailable(err)) throw err; // hot down: fall through to warm
      }
    }
    const record = await warm.get(ref);
    if (record) {
      this.promote(ref, record);
      return tagged(record, "warm");
    }
    return this.restore(ref);
  }

  /**
   * Runs a warm write; if it was conditioned on a version and failed because warm has no live record,
   * the record may be archived: it is restored from cold and the write tried once more, so its
   * condition is checked against the archived version. A rare path, so its cold read costs little.
   */
  private async restoringOnAbsent<T>(
    ref: StateRef,
    options: Pick<WriteOptions, "ifVersion" | "createOnly">,
    write: () => Promise<T>,
  ): Promise<T> {
    try {
      return await write();
    } catch (err) {
      if ((options.ifVersion === undefined && !options.createOnly) || !isAbsentConflict(err) || !this.tiers.cold)
        throw err;
      const restored = await this.restore(ref).catch(() => undefined); // cold down: the conflict stands
      if (!restored) throw err;
      return write();
    }
  }

  /** A key found in neither hot nor warm: restored from cold into warm (with its history) when archived there. */
  private async restore(ref: StateRef): Promise<StateRecord | undefined> {
    const { warm, cold } = this.tiers;
    if (!cold) return undefined;
    const archived = await cold.get(ref);
    if (!archived) return undefined;
    const history = cold.capabilities.has("history") ? await fullHistory(cold, ref) : [];
    if (!(await warm.importRecord(ref.tenant, archived, history))) {
      // warm already holds the same or a newer version (restored or changed meanwhile): that one wins
      const current = await warm.get(ref);
      return current && tagged(current, "warm");
    }
    this.promote(ref, archived);
    return tagged(archived, "cold");
  }

  async put(ref: StateRef, value: unknown, options: WriteOptions = {}): Promise<StateRecord> {
    validateRef(ref);
    if (this.tiers.durabilityOf(ref.namespace) === "ephemeral")
      return tagged(await this.tiers.hot.put(ref, value, options), "hot");
    if (this.journalPending) await this.replayJournal(); // buffered writes first: they came before this one
    let record: StateRecord;
    try {
      record = await this.restoringOnAbsent(ref, options, () => this.tiers.warm.put(ref, value, options));
    } catch (err) {
      if (!isUnavailable(err) || this.tiers.whenWarmDownOf?.(ref.namespace) !== "buffer" || !this.tiers.journal)
        throw err;
      return this.buffer(ref, value, options, err);
    }
    await this.setHot(ref, record);
    return tagged(record, "warm");
  }

  async delete(ref: StateRef, options: Pick<WriteOptions, "ifVersion" | "actor"> = {}): Promise<DeleteResult> {
    validateRef(ref);
    if (this.tiers.durabilityOf(ref.namespace) === "ephemeral") return this.tiers.hot.delete(ref, options);
    if (this.journalPending) await this.replayJournal();
    let result = await this.restoringOnAbsent(ref, options, () => this.tiers.warm.delete(ref, options));
    // Nothing live in warm: an archived record is restored and deleted, or it would come back on the next read.
    if (!result.deleted && this.tiers.cold && (await this.restore(ref).catch(() => undefined)))
      result = await this.tiers.warm.delete(ref, options);
    if (result.deleted)
      await this.setHot(ref, { namespace: ref.namespace, key: ref.key, version: result.version!, deleted: true });
    return result;
  }

  /**
   * Erases the key from every tier: warm (record, history; outbox events redacted), the archive, and hot,
   * where a tombstone above every erased version stays for the hot tier's tombstone retention, so a read
   * that fetched the record before the erase cannot put its copy back.
   */
  async erase(ref: StateRef): Promise<EraseResult> {
    validateRef(ref);
    const { hot, warm, cold } = this.tiers;
    if (this.tiers.durabilityOf(ref.namespace) === "ephemeral") return hot.erase(ref);
    if (this.journalPending) await this.replayJournal(); // a buffered write replayed later would bring the key back
    // The archive first: once warm has no row, a read finds nothing there to restore.
    const results: EraseResult[] = [];
    let hotVersion = 0;
    try {
      hotVersion = (await hot.get(ref).catch(() => undefined))?.version ?? 0;
      if (cold) results.push(await cold.erase(ref));
      results.push(await warm.erase(ref));
    } finally {
      // Whatever was erased, the hot copy goes too (also when a tier failed: a retry finds no row to erase).
      const above = Math.max(hotVersion, ...results.map((r) => r.version ?? 0)) + 1;
      await this.setHot(ref, { namespace: ref.namespace, key: ref.key, version: above, deleted: true });
    }
    const version = Math.max(0, ...results.map((r) => r.version ?? 0));
    return results.some((r) => r.erased) ? { erased: true, version } : { erased: false, version: null };
  }

  async list(tenant: string, namespace: string, options?: ListOptions): Promise<ListPage> {
    return this.ownerOf(namespace).list(tenant, namespace, options);
  }

  async history(ref: StateRef, options?: HistoryOptions): Promise<HistoryEntry[]> {
    validateRef(ref);
    const owner = this.ownerOf(ref.namespace);
    if (!owner.capabilities.has("history")) unsupported(owner.name, "history");
    const entries = await owner.history(ref, options);
    const { cold } = this.tiers;
    const limit = options?.limit ?? 100;
    const oldest = entries.at(-1)?.version;
    // Versions older than warm's oldest (an archived record written again) are in the archive.
    if (cold?.capabilities.has("history") && entries.length < limit && (oldest === undefined || oldest > 1)) {
      const older = await cold.history(ref, { limit: limit - entries.length, before: oldest ?? options?.before });
      return [...entries, ...older];
    }
    return entries;
  }

  async getVersion(ref: StateRef, version: number): Promise<HistoryEntry | undefined> {
    validateRef(ref);
    const owner = this.ownerOf(ref.namespace);
    if (!owner.capabilities.has("history")) unsupported(owner.name, "history");
    const entry = await owner.getVersion(ref, version);
    const { cold } = this.tiers;
    return entry ?? (cold?.capabilities.has("history") ? cold.getVersion(ref, version) : undefined);
  }

  /** All operations must be in namespaces of one durability: the tier that owns them runs them atomically. */
  async transact(ops: readonly TransactionOp[]): Promise<TransactionResult[]> {
    if (ops.length === 0) return [];
    const kinds = new Set(ops.map((op) => this.tiers.durabilityOf(op.ref.namespace)));
    if (kinds.size > 1) throw new InvalidError("a transaction cannot mix durable and ephemeral namespaces");
    const owner = kinds.has("ephemeral") ? this.tiers.hot : this.tiers.warm;
    if (!owner.capabilities.has("transactions")) unsupported(owner.name, "transactions");
    const results = await owner.transact(ops);
    if (owner === this.tiers.warm) {
      await Promise.all(
        results.map((r, i) => {
          const ref = ops[i]!.ref;
          if (r.op === "put") return this.setHot(ref, r.record);
          return r.result.deleted
            ? this.setHot(ref, { namespace: ref.namespace, key: ref.key, version: r.result.version!, deleted: true })
            : undefined;
        }),
      );
    }
    return results;
  }

  /**
   * An access of a record with an idle TTL: the owner of the namespace pushes its expiry forward (warm
   * for durable namespaces, then the hot copy, best effort: a hot copy left with the older expiry only
   * costs a miss later).
   */
  async touch(ref: StateRef, version: number): Promise<Date | undefined> {
    validateRef(ref);
    const owner = this.ownerOf(ref.namespace);
    const expiresAt = await owner.touch(ref, version);
    if (expiresAt && owner !== this.tiers.hot) await this.tiers.hot.touch(ref, version).catch(() => undefined);
    return expiresAt;
  }

  async setIfNewer(): Promise<never> {
    unsupported(this.name, "cache");
  }

  async importRecord(): Promise<never> {
    unsupported(this.name, "import");
  }

  async ping(): Promise<void> {
    await Promise.all([this.tiers.hot.ping(), this.tiers.warm.ping(), this.tiers.cold?.ping()]);
  }

  async close(): Promise<void> {
    clearInterval(this.repairTimer);
    await Promise.allSettled([this.tiers.hot.close(), this.tiers.warm.close(), this.tiers.cold?.close()]);
  }

  /**
   * Warm is down and the namespace buffers: the write is checked against the hot copy's version,
   * given the next version in hot (compare-and-set, so instances sharing Redis agree), and journaled
   * to be applied to warm in order when it returns. Without a hot copy the version is unknown: 503.
   */
  private async buffer(ref: StateRef, value: unknown, options: WriteOptions, warmError: unknown): Promise<StateRecord> {
    const { journal } = this.tiers;
    const hot = this.tiers.bufferHot ?? this.tiers.hot;
    let current: StateRecord | undefined;
    try {
      current = await hot.get(ref);
    } catch {
      throw warmError; // both tiers down
    }
    if (!current) throw warmError;
    if (options.createOnly) throw new VersionConflictError(ref, "absent", current.version);
    if (options.ifVersion !== undefined && options.ifVersion !== current.version)
      throw new VersionConflictError(ref, options.ifVersion, current.version);
    const record = await hot.put(ref, value, { ...options, createOnly: undefined, ifVersion: current.version });
    try {
      await journal!.append({
        id: newJournalId(),
        tenant: ref.tenant,
        namespace: ref.namespace,
        key: ref.key,
        value: record.value,
        expectedVersion: current.version,
        version: record.version,
        ttlSeconds: options.ttlSeconds,
        idleTtlSeconds: options.idleTtlSeconds,
        schemaVersion: options.schemaVersion,
        actor: options.actor,
        at: Date.now(),
      });
    } catch {
      // Not journaled: the hot copy now holds a version warm will never have. Keep this process off it.
      this.staleInHot.set(refKey(ref), {
        tenant: ref.tenant,
        record: { namespace: ref.namespace, key: ref.key, version: record.version, deleted: true },
      });
      throw warmError;
    }
    this.journalPending = true;
    return { ...record, tier: "hot", durable: false };
  }

  /**
   * Applies buffered writes to warm in journal order, one replayer at a time across instances. Each is
   * applied with its expected version; one already applied (a replayer died before removing it) is
   * recognised by its value in history; one whose check fails is dropped and reported.
   */
  async replayJournal(): Promise<void> {
    const { journal, warm } = this.tiers;
    if (!journal) return;
    if (!this.journalPending) {
      this.journalPending = (await journal.length()) > 0;
      if (!this.journalPending) return;
    }
    await journal.exclusive(async () => {
      for (;;) {
        const batch = await journal.peek(50);
        if (batch.length === 0) {
          this.journalPending = false;
          return;
        }
        for (const e of batch) {
          const ref = { tenant: e.tenant, namespace: e.namespace, key: e.key };
          try {
            const record = await warm.put(ref, e.value, {
              ...(e.expectedVersion === 0 ? { createOnly: true } : { ifVersion: e.expectedVersion }),
              ttlSeconds: e.ttlSeconds,
              idleTtlSeconds: e.idleTtlSeconds,
              schemaVersion: e.schemaVersion,
              actor: e.actor,
            });
            await this.setHot(ref, record);
          } catch (err) {
            if (isUnavailable(err)) return; // warm still down: the next tick tries again
            const applied =
              isStateError(err) && err.code === "version_conflict" && warm.capabilities.has("history")
                ? await warm.getVersion(ref, e.version).then(
                    (h) => h !== undefined && JSON.stringify(h.value) === JSON.stringify(e.value),
                    () => false,
                  )
                : false;
            if (!applied) this.tiers.onBufferedDropped?.(e, isStateError(err) ? err.code : "error");
          }
          await journal.ackFirst();
        }
      }
    });
  }

  /** Keys currently kept out of the hot tier until their hot copy is repaired. */
  get pendingHotRepairs(): number {
    return this.staleInHot.size;
  }

  private ownerOf(namespace: string): StateStore {
    return this.tiers.durabilityOf(namespace) === "ephemeral" ? this.tiers.hot : this.tiers.warm;
  }

  /** Read-path promotion: not awaited, the reader already has its answer; a failure only costs a future miss. */
  private promote(ref: StateRef, record: StateRecord): void {
    this.tiers.hot.setIfNewer(ref.tenant, record, this.tiers.hotTtlMsOf?.(ref.namespace)).catch(() => {});
  }

  /** Write-path: the hot copy must not stay older than warm. If hot fails, the key is marked for repair. */
  private async setHot(ref: StateRef, record: StateRecord | Tombstone): Promise<void> {
    const id = refKey(ref);
    try {
      await this.tiers.hot.setIfNewer(ref.tenant, record, this.tiers.hotTtlMsOf?.(ref.namespace));
      // A slow success for an older version must not clear the mark of a newer one that failed.
      const pending = this.staleInHot.get(id);
      if (pending && pending.record.version <= record.version) this.staleInHot.delete(id);
    } catch (err) {
      const pending = this.staleInHot.get(id);
      if (!pending || pending.record.version < record.version) this.staleInHot.set(id, { tenant: ref.tenant, record });
      this.tiers.onHotWriteFailed?.(ref, err);
    }
  }

  private repairing = false;

  /** Writes the newest known version of each stale key into hot; keys leave the set only when that worked. */
  private async repairHot(): Promise<void> {
    if (this.repairing || this.staleInHot.size === 0) return;
    this.repairing = true;
    try {
      for (const [id, { tenant, record }] of [...this.staleInHot]) {
        try {
          await this.tiers.hot.setIfNewer(tenant, record, this.tiers.hotTtlMsOf?.(record.namespace));
          if (this.staleInHot.get(id)?.record === record) this.staleInHot.delete(id);
        } catch {
          return; // hot still down: try again on the next tick
        }
      }
    } finally {
      this.repairing = false;
    }
  }
}

/**
 * A hot read's record, marked in place: it was decoded for this call alone and nothing else holds it,
 * so the copy `tagged` makes is not needed on the path that is taken most (the copy was 5 % of a hit's CPU).
 */
function servedHot(record: StateRecord | undefined): StateRecord | undefined {
  if (record) (record as { tier?: "hot" }).tier = "hot";
  return record;
}

function tagged(record: StateRecord, tier: "hot" | "warm" | "cold"): StateRecord;
function tagged(record: StateRecord | undefined, tier: "hot" | "warm" | "cold"): StateRecord | undefined;
function tagged(record: StateRecord | undefined, tier: "hot" | "warm" | "cold"): StateRecord | undefined {
  return record && { ...record, tier };
}

/** A version check that failed because no live record exists. */
function isAbsentConflict(err: unknown): boolean {
  return isStateError(err) && err.code === "version_conflict" && (err as VersionConflictError).current === null;
}

function isUnavailable(err: unknown): boolean {
  return isStateError(err) && (err as StateError).code === "unavailable";
}
