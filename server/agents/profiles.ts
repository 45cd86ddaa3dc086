import { isConflict, isStateError } from "../state/errors";
import type { StateService } from "../state/service";
import type { StateRef } from "../state/store";
import { type SessionProfile, type Vector, withMessage } from "./embedding";

const NAMESPACE = "embeddings";
const UPDATE_RETRIES = 50;

/** A profile as read: the value and the version to compare-and-set against (none when absent). */
export interface ProfileRead {
  profile?: SessionProfile;
  version?: number;
}

/**
 * Per-session profile vectors (model state) in the `embeddings` namespace: read hot-first with every
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
  async update(ref: StateRef, known: ProfileRead, turn: number, message: string, vector: Vector, actor: string): Promise<void> {
    let current = known;
    for (let attempt = 0; attempt <= UPDATE_RETRIES; attempt++) {
      const next = withMessage(current.profile, turn, message, vector);
      try {
        await this.state.put(ref, next, current.version === undefined ? { createOnly: true, actor } : { ifVersion: current.version, actor });
        return;
      } catch (err) {
        if (!isConflict(err)) {
          // The turn is saved already; the profile catches up with the next message.
          if (!(isStateError(err) && err.code === "unavailable")) this.log?.warn("profile vector not updated", { error: isStateError(err) ? err.code : "error" });
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
