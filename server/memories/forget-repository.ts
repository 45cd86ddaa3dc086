// Finding what a tenant's warm tier holds of one end user, for forgetting them: the keys whose record
// (or, for a deleted record, its last value) names the user, and Store items whose namespace path holds
// the user id. Reads state_records and state_history directly
// (the warm tier is the source of truth); erasing goes through the state engine, never through here.
import type { Sql } from "../db/state-records";
import { MEMORIES_NAMESPACE } from "./namespaces";

/** A record's value names the user when it is theirs (memories, sessions) or its OpenAI metadata says so. */
const NAMES_USER = (column: string) =>
  `(${column}->>'userId' = $3 OR ${column}->'metadata'->>'user_id' = $3
    OR ${column}->'response'->'metadata'->>'user_id' = $3)`;

export interface FoundKey {
  namespace: string;
  key: string;
  /** The agent the record belongs to (a session's), to find what the agent keeps beside it. */
  agent: string | null;
}

export class ForgetRepository {
  constructor(private readonly sql: Sql) {}

  /** The user's memories (the `userId` index serves the present ones). */
  memoriesOf(tenant: string, userId: string): Promise<FoundKey[]> {
    return this.byLastValue(tenant, MEMORIES_NAMESPACE, (v) => `${v}->>'userId' = $3`, userId);
  }

  /**
   * Keys of `namespace` (sessions, responses) that name the user. No index serves this: it reads the
   * tenant's records of the namespace.
   */
  namingUser(tenant: string, userId: string, namespace: string): Promise<FoundKey[]> {
    return this.byLastValue(tenant, namespace, NAMES_USER, userId);
  }

  /** Keys of `namespace` made in one of `conversations`: the responses of a user's conversations. */
  async inConversations(tenant: string, namespace: string, conversations: readonly string[]): Promise<string[]> {
    if (conversations.length === 0) return [];
    const found = await this.byLastValue(tenant, namespace, (v) => `${v}->>'conversation' = ANY($3::text[])`, [
      ...conversations,
    ]);
    return found.map((f) => f.key);
  }

  /**
   * Keys of the tenant's `namespace` whose value passes `matches` (a condition on a json column, its
   * parameter `$3`): present records by their value, deleted ones by the value before their deletion
   * (history keeps it). A user's records name them from their first version, so the current or last
   * value is the one to read: reading every version would cost as much as the tenant's whole history.
   */
  private async byLastValue(
    tenant: string,
    namespace: string,
    matches: (value: string) => string,
    param: unknown,
  ): Promise<FoundKey[]> {
    const rows = await this.sql.$queryRawUnsafe<{ key: string; agent: string | null }[]>(
      `SELECT key, value->>'agent' AS agent FROM state_records
         WHERE tenant = $1 AND namespace = $2 AND NOT deleted AND NOT archived AND ${matches("value")}
       UNION
       SELECT h.key, h.value->>'agent' AS agent FROM state_records r
         JOIN state_history h ON h.tenant = r.tenant AND h.namespace = r.namespace AND h.key = r.key
           AND h.version = r.version - 1
         WHERE r.tenant = $1 AND r.namespace = $2 AND r.deleted AND ${matches("h.value")}`,
      tenant,
      namespace,
      param,
    );
    return rows.map((r) => ({ namespace, key: r.key, agent: r.agent }));
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
