import { errorName, logger } from "../logger";
import { isConflict, isStateError } from "../state/errors";
import type { StateService } from "../state/service";
import type { StateRef } from "../state/store";
import { EMBEDDING_MODEL, type SessionProfile, type Vector, withMessage } from "./embedding";

/** Owned by the agents (server/state/namespaces.ts): the state API reads it only with agents:invoke and never writes it. */
export const PROFILES_NAMESPACE = "agent-profiles";
/**
 * Where profiles were kept before they had a namespace of their own: `embeddings`, which is open to
 * product teams. Records left there are derived data (rebuilt from the next message) that quote user
 * messages, so purgeLegacyProfiles deletes them rather than moving them.
 */
export const LEGACY_PROFILES_NAMESPACE = "embeddings";
const NAMESPACE = PROFILES_NAMESPACE;
const UPDATE_RETRIES = 50;

/** A profile as read: the value and the version to compare-and-set against (none when absent). */
export interface ProfileRead {
  profile?: SessionProfile;
  version?: number;
}

/**
 * Per-session profile vectors (model state) in the `agent-profiles` namespace: read hot-first with every
 * turn, folded with the new message and written back by compare-and-set. A profile is derived data: when
 * the stores cannot answer a turn goes on without it.
 */
export class SessionProfiles {
  constructor(
    private readonly state: StateService,
    private readonly log?: { warn(msg: string, fields?: Record<string, unknown>): void },
  ) {}

  ref(tenant: string, agent: string, sessionId: string): StateRef {
    return { tenant, namespace: NAMESPACE, key: `profile:${agent}:${sessionId}` };
  }

  /** Never rejects: absent or unreachable profiles read as none. */
  async read(ref: StateRef, options: { strong?: boolean } = {}): Promise<ProfileRead> {
    try {
      const record = await this.state.getOrThrow(ref, options.strong ? { consistency: "strong" } : {});
      return { profile: record.value as SessionProfile, version: record.version };
    } catch {
      return {};
    }
  }

  /** Folds the turn's message in; retried on concurrent turns so every message lands. */
  async update(
    ref: StateRef,
    known: ProfileRead,
    turn: number,
    message: string,
    vector: Vector,
    actor: string,
  ): Promise<void> {
    let current = known;
    for (let attempt = 0; attempt <= UPDATE_RETRIES; attempt++) {
      const next = withMessage(current.profile, turn, message, vector);
      try {
        await this.state.put(
          ref,
          next,
          current.version === undefined ? { createOnly: true, actor } : { ifVersion: current.version, actor },
        );
        return;
      } catch (err) {
        if (!isConflict(err)) {
          // The turn is saved already; the profile catches up with the next message.
          if (!(isStateError(err) && err.code === "unavailable"))
            this.log?.warn("profile vector not updated", { error: isStateError(err) ? err.code : "error" });
          return;
        }
        current = await this.read(ref, { strong: true });
      }
    }
  }

  async remove(ref: StateRef, actor: string): Promise<void> {
    await this.state.delete(ref, { actor }).catch(() => {});
  }
}

const LEGACY_KEY = /^profile:[^:]+:[^:]+$/;
const LEGACY_PAGE = 500;

/** A value the agents wrote as a profile (SessionProfile), not a product team's record that shares the key prefix. */
export function isAgentProfile(value: unknown): boolean {
  const v = value as Partial<SessionProfile> | null;
  return (
    typeof v === "object" &&
    v !== null &&
    !Array.isArray(v) &&
    v.model === EMBEDDING_MODEL &&
    typeof v.dim === "number" &&
    typeof v.messages === "number" &&
    Array.isArray(v.vector) &&
    Array.isArray(v.topics) &&
    Object.keys(v).length === 5
  );
}

/**
 * Deletes the profiles earlier versions left in `embeddings` (key `profile:<agent>:<session>` and the
 * exact SessionProfile shape; anything else there is a product team's and stays), each by
 * compare-and-set on the version it was read at, so a concurrent write wins. Profiles are not moved:
 * they are derived, and the next message of a live session starts a new one in `agent-profiles`.
 * Idempotent, so every process may run it at start-up. Returns how many it deleted.
 */
export async function purgeLegacyProfiles(
  state: StateService,
  tenants: readonly string[],
  actor = "agents",
): Promise<number> {
  let removed = 0;
  for (const tenant of tenants) {
    let cursor: string | undefined;
    do {
      const page = await state.list(tenant, LEGACY_PROFILES_NAMESPACE, {
        prefix: "profile:",
        limit: LEGACY_PAGE,
        cursor,
      });
      for (const item of page.items) {
        if (!LEGACY_KEY.test(item.key)) continue;
        const ref = { tenant, namespace: LEGACY_PROFILES_NAMESPACE, key: item.key };
        try {
          const record = await state.getOrThrow(ref, { consistency: "strong" });
          if (!isAgentProfile(record.value)) continue;
          if ((await state.delete(ref, { ifVersion: record.version, actor })).deleted) removed++;
        } catch (err) {
          // Gone or changed meanwhile: nothing to purge. Anything else (a store outage) ends this run; the next start retries.
          if (!(isConflict(err) || (isStateError(err) && err.code === "not_found"))) throw err;
        }
      }
      cursor = page.nextCursor;
    } while (cursor);
  }
  return removed;
}

/** Runs purgeLegacyProfiles over every tenant without holding up start-up; a failure is logged and the next start retries. */
export async function purgeLegacyProfilesInBackground(
  state: StateService,
  tenants: () => Promise<readonly string[]>,
): Promise<void> {
  try {
    const removed = await purgeLegacyProfiles(state, await tenants());
    if (removed > 0) logger.info("deleted profile vectors left in the embeddings namespace", { removed });
  } catch (err) {
    logger.warn("could not purge old profile vectors from embeddings; the next start retries", {
      error: errorName(err),
    });
  }
}
