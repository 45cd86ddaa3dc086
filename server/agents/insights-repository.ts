// The agents' figures that live in the warm tier (the source of truth for sessions): live sessions per
// agent and an agent's newest conversations, read with SQL beside the state store.
import { live, type Sql } from "../db/state-records";

/** A session (or conversation) of an agent, as the admin API lists it. */
export interface ConversationRow {
  id: string;
  version: number;
  turns: number;
  agentVersion: number;
  userId: string | null;
  startedAt: string | null;
  updatedAt: Date;
  expiresAt: Date | null;
  sizeBytes: number;
}

export class AgentInsightsRepository {
  constructor(private readonly sql: Sql) {}

  /** Live sessions of each of the tenant's agents (conversations not yet bound to one are left out). */
  async activeSessions(tenant: string): Promise<Map<string, number>> {
    const rows = await this.sql.$queryRawUnsafe<{ agent: string; active: number }[]>(
      `SELECT value->>'agent' AS agent, count(*)::int AS active FROM state_records
       WHERE tenant = $1 AND namespace = 'sessions' AND ${live("now()")} AND value->>'agent' IS NOT NULL GROUP BY 1`,
      tenant,
    );
    return new Map(rows.map((r) => [r.agent, Number(r.active)]));
  }

  /**
   * The agent's newest live sessions, most recently changed first. It reads the tenant's session rows
   * (the primary key's tenant and namespace prefix), so its cost grows with the tenant's live sessions.
   */
  async conversations(tenant: string, agent: string, limit: number): Promise<ConversationRow[]> {
    const rows = await this.sql.$queryRawUnsafe<
      {
        key: string;
        version: number;
        turns: number | null;
        agent_version: number | null;
        user_id: string | null;
        started_at: string | null;
        updated_at: Date;
        expires_at: Date | null;
        size_bytes: number;
      }[]
    >(
      `SELECT key, version, (value->>'turnCount')::int AS turns, (value->>'agentVersion')::int AS agent_version,
              value->'metadata'->>'user_id' AS user_id, value->>'startedAt' AS started_at,
              updated_at, expires_at, size_bytes
       FROM state_records
       WHERE tenant = $1 AND namespace = 'sessions' AND ${live("now()")} AND value->>'agent' = $2
       ORDER BY updated_at DESC, key LIMIT $3`,
      tenant,
      agent,
      limit,
    );
    return rows.map((r) => ({
      id: r.key,
      version: Number(r.version),
      turns: Number(r.turns ?? 0),
      agentVersion: Number(r.agent_version ?? 0),
      userId: r.user_id,
      startedAt: r.started_at,
      updatedAt: new Date(r.updated_at),
      expiresAt: r.expires_at === null ? null : new Date(r.expires_at),
      sizeBytes: Number(r.size_bytes),
    }));
  }
}
