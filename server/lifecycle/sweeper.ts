import type { NamespaceRegistry } from "../state/namespaces";
import type { OutboxRepository } from "../outbox/outbox-repository";
import { demoteToCold } from "../state/demote";
import { type CopyScanner, fullHistory, refKey, type StateRef, type StateStore } from "../state/store";
import type { TieredStore } from "../state/tiered";
import type { SweepRepository } from "./sweep-repository";

export interface SweeperOptions {
  /** The warm tier (for the history of records it archives). */
  warm: Pick<StateStore, "history">;
  /** The sweeper's own queries over the warm tier. */
  repository: Pick<
    SweepRepository,
    "expiredCandidates" | "expire" | "purgeOrphans" | "versionsOf" | "archiveCandidates"
  >;
  /** Outbox retention: published events are forgotten with the tombstones. */
  outbox: Pick<OutboxRepository, "purgePublished">;
  /** The composed store, through which live records are moved to the archive (demoteToCold). */
  tiered?: TieredStore;
  /** The hot tier; orphaned copies are looked for when it can list them. */
  hot: StateStore & Partial<CopyScanner>;
  /** Where namespaces that say so keep their expired records. */
  cold?: StateStore;
  namespaces: NamespaceRegistry;
  /** Told of every action, counted as `statehouse.lifecycle.events`. */
  onEvent(event: LifecycleEvent, namespace: string, count: number): void;
  batchSize?: number;
  /** Tombstones, their history and published outbox events are forgotten after this long. */
  tombstoneRetentionSeconds?: number;
  /** Orphaned hot copies are looked for on every n-th sweep (a scan of the whole hot tier). */
  hotScanEvery?: number;
  onError?(err: unknown): void;
}

export type LifecycleEvent =
  | "expired"
  | "expired_archived"
  | "tombstone_purged"
  | "orphan_history_removed"
  | "outbox_purged"
  | "orphan_hot_removed"
  | "archived";

export interface SweepReport {
  expired: number;
  archived: number;
  tombstones: number;
  orphanHistory: number;
  outbox: number;
  orphanHot: number;
}

/** Batches per sweep: a backlog is worked off over several sweeps rather than in one long one. */
const MAX_BATCHES = 40;

/**
 * Enforces expiry and cleans up after it, in the app, in batches. Safe with any number of instances
 * sweeping at once: every removal is a statement guarded by the version it saw (see
 * SweepRepository.expire), so each expired record is removed — and counted — by exactly one of them.
 * Reads never depend on it (every tier already refuses to serve an expired record); it reclaims space,
 * moves expired records to the archive where the namespace says so, and announces expiries in the outbox.
 */
export class LifecycleSweeper {
  private timer?: NodeJS.Timeout;
  private running?: Promise<SweepReport>;
  private sweeps = 0;

  constructor(private readonly options: SweeperOptions) {}

  start(intervalMs: number): void {
    if (intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.sweepOnce().catch((err) => this.options.onError?.(err)), intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => {});
  }

  /** One sweep; a call while one is running joins it. */
  sweepOnce(): Promise<SweepReport> {
    this.running ??= this.sweep().finally(() => (this.running = undefined));
    return this.running;
  }

  private async sweep(): Promise<SweepReport> {
    const report: SweepReport = { expired: 0, archived: 0, tombstones: 0, orphanHistory: 0, outbox: 0, orphanHot: 0 };
    await this.expireAll(report);
    await this.archiveInactive(report);
    await this.purgeOrphans(report);
    if (this.sweeps++ % (this.options.hotScanEvery ?? 10) === 0) await this.removeHotOrphans(report);
    return report;
  }

  private async expireAll(report: SweepReport): Promise<void> {
    const { warm, repository, hot, cold, namespaces, onEvent } = this.options;
    const batchSize = this.options.batchSize ?? 500;
    for (let batch = 0; batch < MAX_BATCHES; batch++) {
      const candidates = await repository.expiredCandidates(batchSize);
      if (candidates.length === 0) return;
      const archiving = new Map<string, StateRef>();
      for (const { tenant, record } of candidates) {
        if (
          !cold ||
          !namespaces.has(record.namespace) ||
          namespaces.getOrThrow(record.namespace).onExpire !== "archive"
        )
          continue;
        const ref = { tenant, namespace: record.namespace, key: record.key };
        // Archived before it is removed: if the sweeper dies in between, the next sweep archives it again
        // (the archive keeps the first copy of a version) and then removes it.
        await cold.importRecord(tenant, record, await fullHistory(warm, ref));
        archiving.set(refKey(ref), ref);
      }
      const expired = await repository.expire(
        candidates.map(({ tenant, record }) => ({
          tenant,
          namespace: record.namespace,
          key: record.key,
          version: record.version,
        })),
      );
      await this.dropArchivedButErased(archiving, expired);
      const counts = new Map<string, { expired: number; archived: number }>();
      for (const row of expired) {
        const c = counts.get(row.namespace) ?? { expired: 0, archived: 0 };
        if (archiving.has(refKey(row))) c.archived++;
        else c.expired++;
        counts.set(row.namespace, c);
        // The hot copy is replaced by the tombstone, so a re-created key continues its versions everywhere.
        await hot
          .setIfNewer(row.tenant, { namespace: row.namespace, key: row.key, version: row.version, deleted: true })
          .catch(() => false);
      }
      for (const [namespace, c] of counts) {
        if (c.expired) onEvent("expired", namespace, c.expired);
        if (c.archived) onEvent("expired_archived", namespace, c.archived);
        report.expired += c.expired + c.archived;
        report.archived += c.archived;
      }
      if (candidates.length < batchSize) return;
    }
  }

  /**
   * A record copied to the archive but not expired in warm was changed meanwhile (the archive then holds
   * an older version, which the newer one in warm wins over) or erased (forgetting a user): then the copy
   * must go too, or the erased record would live on in the archive.
   */
  private async dropArchivedButErased(
    archiving: ReadonlyMap<string, StateRef>,
    expired: readonly StateRef[],
  ): Promise<void> {
    const { cold, repository } = this.options;
    if (!cold || archiving.size === 0) return;
    const done = new Set(expired.map(refKey));
    const left = [...archiving].filter(([id]) => !done.has(id)).map(([, ref]) => ref);
    if (left.length === 0) return;
    const inWarm = await repository.versionsOf(left);
    for (const ref of left) if (!inWarm.has(refKey(ref))) await cold.erase(ref);
  }

  /** Moves live records that the namespace wants archived (inactive, finished) to the cold tier. */
  private async archiveInactive(report: SweepReport): Promise<void> {
    const { repository, tiered, namespaces, onEvent } = this.options;
    if (!tiered?.cold) return;
    for (const policy of namespaces.list()) {
      if (!policy.archiveAfter || policy.durability !== "durable") continue;
      const before = new Date(Date.now() - policy.archiveAfter.idleSeconds * 1000);
      for (let batch = 0; batch < MAX_BATCHES; batch++) {
        const candidates = await repository.archiveCandidates(policy.name, before, this.options.batchSize ?? 500);
        let moved = 0;
        for (const { tenant, record } of candidates) {
          if (policy.archiveAfter.when && !policy.archiveAfter.when(record.value)) continue;
          const ref = { tenant, namespace: record.namespace, key: record.key };
          if ((await demoteToCold(tiered, ref, record)).outcome === "archived") moved++;
        }
        if (moved) onEvent("archived", policy.name, moved);
        report.archived += moved;
        if (candidates.length < (this.options.batchSize ?? 500) || moved === 0) break;
      }
    }
  }

  private async purgeOrphans(report: SweepReport): Promise<void> {
    const { repository, outbox, onEvent } = this.options;
    const before = new Date(Date.now() - (this.options.tombstoneRetentionSeconds ?? 7 * 24 * 3600) * 1000);
    const batchSize = this.options.batchSize ?? 500;
    for (let batch = 0; batch < MAX_BATCHES; batch++) {
      const [orphans, published] = await Promise.all([
        repository.purgeOrphans(before, batchSize),
        outbox.purgePublished(before, batchSize),
      ]);
      const removed = { ...orphans, outbox: published };
      // Rows of records long gone have no namespace worth a label of its own.
      if (removed.tombstones) onEvent("tombstone_purged", "all", removed.tombstones);
      if (removed.history) onEvent("orphan_history_removed", "all", removed.history);
      if (removed.outbox) onEvent("outbox_purged", "all", removed.outbox);
      report.tombstones += removed.tombstones;
      report.orphanHistory += removed.history;
      report.outbox += removed.outbox;
      if (removed.tombstones + removed.history + removed.outbox === 0) return;
    }
  }

  /** Hot copies of durable namespaces whose key warm has never heard of (e.g. a restored database). */
  private async removeHotOrphans(report: SweepReport): Promise<void> {
    const { hot, repository, namespaces, onEvent } = this.options;
    if (!hot.scanCopies || !hot.evict) return;
    for await (const page of hot.scanCopies()) {
      const durable = page.filter(
        (c) => namespaces.has(c.namespace) && namespaces.getOrThrow(c.namespace).durability === "durable",
      );
      if (durable.length === 0) continue;
      const known = await repository.versionsOf(durable);
      for (const copy of durable) {
        if (known.has(refKey(copy))) continue;
        if (await hot.evict(copy, copy.version)) {
          onEvent("orphan_hot_removed", copy.namespace, 1);
          report.orphanHot++;
        }
      }
    }
  }
}
