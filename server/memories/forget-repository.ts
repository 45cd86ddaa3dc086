// Finding what a tenant's warm tier holds of one end user, for forgetting them: the keys whose record
// (or, for a deleted record, its last value) names the user, and Store items whose namespace path holds
// the user id. Reads state_records and state_history directly
// (the warm tier is the source of truth); erasing goes through the state engine, never through here.
import type { Sql } from "../db/state-records";
import { MEMORIES_NAMESPACE } from "./namespaces";

/** A record's value names the user when it is theirs (memories, sessions) or its OpenAI metadata says so. */
const NAMES_USER = (column: string) =>
  `(${column}->>'userId' = $2 OR ${column}->'metadata'->>'user_id' = $2
    OR ${column}->'response'->'metadata'->>'user_id' = $2)`;

export interface FoundKey {
  namespace: string;
  key: string;
  /** The agent the record belongs to (a session's), to find what the agent keeps beside it. */
  agent: string | null;
}

export class ForgetRepository {
  constructor(private readonly sql: Sql) {}

  /**
   * The user's memories: present ones through the `userId` index, deleted ones by the value before their
   * deletion (history keeps it).
   */
  async memoriesOf(tenant: string, userId: string): Promise<FoundKey[]> {
    return this.sql.$queryRawUnsafe<FoundKey[]>(
      `SELECT namespace, key, NULL AS agent FROM state_records
         WHERE tenant = $1 AND namespace = '${MEMORIES_NAMESPACE}' AND value->>'userId' = $2
       UNION
       SELECT h.namespace, h.key, NULL AS agent FROM state_records r
         JOIN state_history h ON h.tenant = r.tenant AND h.namespace = r.namespace AND h.key = r.key
           AND h.version = r.version - 1
         WHERE r.tenant = $1 AND r.namespace = '${MEMORIES_NAMESPACE}' AND r.deleted AND h.value->>'userId' = $2`,
      tenant,
      userId,
    );
  }

  /**
   * Keys of `namespace` (sessions, responses) that name the user: present records by their value,
   * deleted ones by the value before their deletion. A user's records name them from their first
   * version, so the current or last value is the one to read: reading every version would cost as much as
   * the tenant's whole history. No index serves this: it reads the tenant's records of the namespace.
   */
  async namingUser(tenant: string, userId: string, namespace: string): Promise<FoundKey[]> {
    return this.sql.$queryRawUnsafe<FoundKey[]>(
      `SELECT namespace, key, value->>'agent' AS agent FROM state_records
         WHERE tenant = $1 AND namespace = $3 AND NOT deleted AND NOT archived AND ${NAMES_USER("value")}
       UNION
       SELECT h.namespace, h.key, h.value->>'agent' AS agent FROM state_records r
         JOIN state_history h ON h.tenant = r.tenant AND h.namespace = r.namespace AND h.key = r.key
           AND h.version = r.version - 1
         WHERE r.tenant = $1 AND r.namespace = $3 AND r.deleted AND ${NAMES_USER("h.value")}`,
      tenant,
      userId,
      namespace,
    );
  }

  /**
   * Keys of `namespace` (present, or deleted: then by their last value) whose value's `conversation` is
   * one of `conversations`: the responses made in a user's conversations hold what the user said.
   */
  async inConversations(tenant: string, namespace: string, conversations: readonly string[]): Promise<string[]> {
    if (conversations.length === 0) return [];
    const rows = await this.sql.$queryRawUnsafe<{ key: string }[]>(
      `SELECT key FROM state_records
         WHERE tenant = $1 AND namespace = $2 AND NOT deleted AND value->>'conversation' = ANY($3::text[])
       UNION
       SELECT h.key FROM state_records r
         JOIN state_history h ON h.tenant = r.tenant AND h.namespace = r.namespace AND h.key = r.key
           AND h.version = r.version - 1
         WHERE r.tenant = $1 AND r.namespace = $2 AND r.deleted AND h.value->>'conversation' = ANY($3::text[])`,
      tenant,
      namespace,
      [...conversations],
    );
    return rows.map((r) => r.key);
  }

  /**
   * Keys of `namespace` (live, deleted or archived: a key is a trace by itself) that contain `needle`,
   * for the caller to check exactly: Store item keys are JSON paths, and which element holds the user id
   * matters.
   */
  async keysContaining(tenant: string, namespace: string, needle: string): Promise<string[]> {
    const rows = await this.sql.$queryRawUnsafe<{ key: string }[]>(
      `SELECT key FROM state_records WHERE tenant = $1 AND namespace = $2 AND strpos(key, $3) > 0`,
      tenant,
      namespace,
      needle,
    );
    return rows.map((r) => r.key);
  }
}
