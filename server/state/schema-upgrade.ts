// Schema versions: the engine upgrades old records on read, step by step, and optionally writes them back.
import { logger } from "../logger";
import { isConflict, isStateError, StateError } from "./errors";
import type { NamespacePolicy } from "./namespaces";
import { encodeValue, type StateRecord, type StateRef, type StateStore } from "./store";

/**
 * Schema versions, applied on read (issue 5, point 5). A namespace declares its current `schemaVersion`
 * and one upgrader per step; a record stored at an older version is handed to product code upgraded,
 * step by step, and reported at the current version. Records stored at a newer version than this
 * process knows (written by a newer deployment during a rolling deploy) are returned as stored.
 * History and past versions are an audit trail: they always show values as they were stored.
 */

/** Lifecycle events (statehouse.lifecycle.events{event}) this module reports. */
export const SCHEMA_EVENTS = { upgraded: "schema_upgraded", failed: "upgrade_failed" } as const;

/** Who history names as the author of a write-back. */
export const WRITE_BACK_ACTOR = "schema-upgrade";

/**
 * An upgrader threw (or returned something that is not JSON). Nothing was written; the record stays
 * as stored until the upgrader is fixed or the record is overwritten.
 */
export class UpgradeFailedError extends StateError {
  constructor(
    namespace: string,
    readonly fromSchemaVersion: number,
    readonly targetSchemaVersion: number,
    /** The upgrader's own error: for operators (the migrate command's report), never for HTTP bodies or logs. */
    readonly reason: string,
  ) {
    super(
      "upgrade_failed",
      `the record is stored at schema version ${fromSchemaVersion} of namespace ${namespace} and its upgrader to ` +
        `version ${fromSchemaVersion + 1} failed; it can be overwritten with a new value`,
      { schemaVersion: fromSchemaVersion, targetSchemaVersion },
    );
    this.name = "UpgradeFailedError";
  }
}

export function isUpgradeFailed(err: unknown): err is UpgradeFailedError {
  return isStateError(err) && err.code === "upgrade_failed";
}

/** Whether a record stored at `schemaVersion` needs the policy's upgraders. */
export function needsUpgrade(policy: NamespacePolicy, schemaVersion: number): boolean {
  return schemaVersion < policy.schemaVersion;
}

/**
 * Runs the policy's upgraders on a value stored at `from`, one step at a time, up to the policy's
 * schemaVersion. Each upgrader gets its own copy, so a throwing one cannot leave a half-changed value
 * behind. Throws UpgradeFailedError naming the step that failed.
 */
export function upgradeValue(
  policy: NamespacePolicy,
  value: unknown,
  from: number,
): { value: unknown; json: string; sizeBytes: number } {
  let current = value;
  for (let step = from; step < policy.schemaVersion; step++) {
    try {
      current = policy.upgraders[step]!(structuredClone(current));
    } catch (err) {
      throw new UpgradeFailedError(policy.name, step, policy.schemaVersion, describe(err));
    }
  }
  try {
    return { value: current, ...encodeValue(current) };
  } catch (err) {
    throw new UpgradeFailedError(
      policy.name,
      policy.schemaVersion - 1,
      policy.schemaVersion,
      `the upgraded value is not storable JSON: ${describe(err)}`,
    );
  }
}

/** The record as the current schema sees it (same version: nothing is written). */
export function upgradedRecord(policy: NamespacePolicy, record: StateRecord): StateRecord {
  if (!needsUpgrade(policy, record.schemaVersion)) return record;
  const { value, sizeBytes } = upgradeValue(policy, record.value, record.schemaVersion);
  return { ...record, value, sizeBytes, schemaVersion: policy.schemaVersion };
}

/**
 * The expiry rule a rewrite needs to keep the record's life as it was: its idle TTL (a rewrite is an
 * access), else the seconds left before `expiresAt` (nothing: no expiry).
 */
export function keptExpiry(record: { expiresAt: Date | null; idleTtlSeconds?: number | null }): {
  ttlSeconds?: number;
  idleTtlSeconds?: number;
} {
  if (record.idleTtlSeconds) return { idleTtlSeconds: record.idleTtlSeconds };
  return record.expiresAt ? { ttlSeconds: Math.max(0.001, (record.expiresAt.getTime() - Date.now()) / 1000) } : {};
}

/**
 * The record upgraded to the policy's schema version (unchanged when it is current), each upgrade and
 * each failure reported as a lifecycle event. Nothing is written.
 */
export function upgradeReported(
  policy: NamespacePolicy,
  record: StateRecord,
  onLifecycle: (event: string, namespace: string) => void,
): StateRecord {
  if (!needsUpgrade(policy, record.schemaVersion)) return record;
  try {
    const upgraded = upgradedRecord(policy, record);
    onLifecycle(SCHEMA_EVENTS.upgraded, policy.name);
    return upgraded;
  } catch (err) {
    if (isUpgradeFailed(err)) {
      onLifecycle(SCHEMA_EVENTS.failed, policy.name);
      logger.warn("a stored record could not be upgraded to its namespace's schema version", {
        namespace: policy.name,
        from: err.fromSchemaVersion,
        to: err.targetSchemaVersion,
      });
    }
    throw err;
  }
}

/**
 * Upgrade on read, as StateService applies it to every value it hands out. With `writeBackUpgrades`
 * the upgraded value is also written back, compare-and-set on the version that was read: a conflict
 * means someone else wrote meanwhile (their write is at the current schema version), so the read just
 * returns the upgraded value it has. A write-back that fails for another reason (warm down) does not
 * fail the read either.
 */
export async function upgradeOnRead(
  store: StateStore,
  policy: NamespacePolicy,
  ref: StateRef,
  record: StateRecord,
  onLifecycle: (event: string, namespace: string) => void,
): Promise<StateRecord> {
  const upgraded = upgradeReported(policy, record, onLifecycle);
  if (upgraded === record || !policy.writeBackUpgrades) return upgraded;
  try {
    const written = await store.put(ref, upgraded.value, {
      ifVersion: record.version,
      ...keptExpiry(record),
      schemaVersion: policy.schemaVersion,
      actor: WRITE_BACK_ACTOR,
    });
    return { ...written, tier: record.tier };
  } catch (err) {
    if (!isConflict(err))
      logger.warn("an upgraded record could not be written back; served upgraded anyway", {
        namespace: policy.name,
        error: isStateError(err) ? err.code : "error",
      });
    return upgraded;
  }
}

function describe(err: unknown): string {
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return message.length > 300 ? `${message.slice(0, 297)}...` : message;
}
