// The capacity monitor's SQL: live sessions per agent, counted in the warm tier (the source of truth).
import type { PrismaClient } from "../db/generated/client";
import { live } from "../db/state-records";
import type { ActiveSessions } from "./capacity";

export class CapacityRepository {
  constructor(private readonly prisma: Pick<PrismaClient, "$queryRawUnsafe">) {}

  /** Live (not deleted, archived or expired) sessions per agent. */
  async activeSessions(): Promise<ActiveSessions[]> {
    const rows = await this.prisma.$queryRawUnsafe<{ agent: string | null; active: number }[]>(
      `SELECT value->>'agent' AS agent, count(*)::int AS active FROM state_records
       WHERE namespace = 'sessions' AND ${live("now()")} GROUP BY 1`,
    );
    return rows
      .filter((r) => r.agent !== null)
      .map((r) => ({ agent: r.agent!, namespace: "sessions", active: Number(r.active) }));
  }
}
