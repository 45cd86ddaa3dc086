import type { StateRecord, StateRef } from "./store";
import { fullHistory, unsupported, validateRef } from "./store";
import type { TieredStore } from "./tiered";

/**
 * - archived: cold holds the record and its history; warm keeps only a bare tombstone at its version
 *   (so the key's version count never starts again), hot no copy.
 * - absent: warm had no record to move.
 * - changed: the record changed while it was being moved; warm keeps the newer version (cold's copy
 *   is older, and a read never prefers it).
 * - conflict: cold already holds another history of this key at the same or a newer version (the
 *   key's versions started again after an earlier archive); nothing was removed from warm.
 */
export type DemoteOutcome = "archived" | "absent" | "changed" | "conflict";

export interface DemoteResult {
  readonly outcome: DemoteOutcome;
  /** The version moved (or found), when there was a record. */
  readonly version?: number;
  /** False when the hot tier could not be told (it may serve the same version until its copy expires). */
  readonly hotDropped?: boolean;
}

/**
 * Moves a durable record to the cold tier: copies the record and its whole history to cold, then
 * drops its value and history from warm only if it is still at the version copied (a record changed
 * meanwhile stays), then drops the hot copy. A read of the key afterwards restores it from cold with
 * the same version and history. Safe to repeat after a crash at any step: a copy already in cold is
 * recognised. Move a given key from one process at a time (a sweeper's batch lease): the archive has
 * no compare-and-set across processes.
 *
 * `record` is the record to move when the caller has it already (a sweeper moving expired records,
 * which warm.get no longer returns); by default it is read from warm.
 */
export async function demoteToCold(tiered: TieredStore, ref: StateRef, record?: StateRecord): Promise<DemoteResult> {
  validateRef(ref);
  const { warm, hot, cold } = tiered;
  if (!cold?.capabilities.has("import"))
    unsupported(tiered.name, "moving records to the archive without an importing cold tier");
  if (!warm.dropArchived || !warm.capabilities.has("history")) unsupported(warm.name, "moving records to the archive");

  const moving = record ?? (await warm.get(ref, { consistency: "strong" }));
  if (!moving) return { outcome: "absent" };
  const version = moving.version;

  // False when cold already has this version (an earlier attempt that crashed before warm was
  // cleared) or a newer one. Either way what counts is what cold holds now, read back: warm is only
  // cleared when cold has this very version (same number, same time), not merely some version.
  await cold.importRecord(ref.tenant, moving, await fullHistory(warm, ref));
  const archived = await cold.getVersion(ref, version);
  if (archived?.at.getTime() !== moving.updatedAt.getTime()) return { outcome: "conflict", version };
  if (!(await warm.dropArchived(ref, version))) return { outcome: "changed", version };

  // Hot gets a tombstone one past the archived version rather than a plain delete: a reader that found
  // the record in warm just before it went may still promote it, and must not bring back a hot copy.
  // Until the tombstone expires from hot, the restored record and the first write after it (which
  // reuses the tombstone's number, never seen by anyone) are served from warm.
  try {
    await hot.setIfNewer(ref.tenant, { namespace: ref.namespace, key: ref.key, version: version + 1, deleted: true });
    return { outcome: "archived", version, hotDropped: true };
  } catch {
    return { outcome: "archived", version, hotDropped: false };
  }
}
