// The outbox table's SQL: the relay's locked batches, retention of published events, the event id, and the admin views.
import type { PrismaClient } from "../db/generated/client";

/** Which change an event is: its id and the record version it announces. */
interface EventHeader {
  id: string;
  tenant: string;
  namespace: string;
  key: string;
  version: number;
}

/** What consumers receive. `id` is unique per change: deduplicate on it (delivery is at least once). */
export interface OutboxEvent extends EventHeader {
  operation: "put" | "delete";
  at: string;
  payload: Record<string, unknown>;
}

/** An event as the dashboard lists it (published or not). */
export interface OutboxEventSummary extends EventHeader {
  operation: string;
  createdAt: Date;
  publishedAt: Date | null;
}

/** The one format of an event id, `evt_<row id>`: consumers deduplicate on it, so it must never differ by path. */
export function eventId(rowId: bigint | number | string): string {
  return `evt_${String(rowId)}`;
}

/** How many of the newest outbox events a per-tenant view of the outbox looks through. */
const RECENT_OUTBOX_SCAN = 10_000;

// Any fixed number; relays of every instance take the same lock, so one publishes at a time.
const RELAY_LOCK = 7_236_118_905_144n;

interface PendingRow {
  id: bigint | number;
  tenant: string;
  namespace: string;
  key: string;
  version: number;
  operation: "put" | "delete";
  payload: unknown;
  created_at: Date;
}

export class OutboxRepository {
  constructor(private readonly prisma: Pick<PrismaClient, "$transaction" | "$queryRawUnsafe" | "$executeRawUnsafe">) {}

  /**
   * In one transaction holding the relays' advisory lock: the oldest `limit` unpublished events in id
   * order, handed to `publish`, then marked published. Returns how many (0 when idle or when another
   * relay holds the lock). If `publish` throws nothing is marked: the batch is published again later.
   */
  async publishBatch(limit: number, publish: (events: OutboxEvent[]) => Promise<void>): Promise<number> {
    return this.prisma.$transaction(
      async (tx) => {
        const lock = await tx.$queryRawUnsafe<{ locked: boolean }[]>(
          "SELECT pg_try_advisory_xact_lock($1) AS locked",
          RELAY_LOCK.toString(),
        );
        if (!lock[0]?.locked) return 0;
        const rows = await tx.$queryRawUnsafe<PendingRow[]>(
          `SELECT id, tenant, namespace, key, version, operation, payload::text AS payload, created_at
           FROM outbox_events
           WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
          limit,
        );
        if (rows.length === 0) return 0;
        await publish(rows.map(toEvent));
        await tx.$executeRawUnsafe(
          `UPDATE outbox_events SET published_at = now(), attempts = attempts + 1 WHERE id = ANY($1::bigint[])`,
          rows.map((r) => String(r.id)),
        );
        return rows.length;
      },
      { timeout: 30_000, maxWait: 5_000 },
    );
  }

  /**
   * Outbox retention, its one owner: deletes at most `limit` events published before `before`.
   * Unpublished events are never removed, so nothing not yet acknowledged is lost.
   */
  async purgePublished(before: Date, limit: number): Promise<number> {
    const rows = await this.prisma.$queryRawUnsafe<{ n: number }[]>(
      `WITH old AS (
         DELETE FROM outbox_events WHERE id IN (
           SELECT id FROM outbox_events WHERE published_at IS NOT NULL AND published_at < $1 ORDER BY id LIMIT $2
         ) RETURNING 1
       )
       SELECT count(*)::int AS n FROM old`,
      before,
      limit,
    );
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * The newest outbox events (published or not), for the dashboard; with `tenant`, that tenant's among
   * the newest 10 000 events of all tenants (the table has no tenant index, which every write would pay
   * for, so the scan is bounded instead).
   */
  async recent(limit = 20, tenant?: string): Promise<OutboxEventSummary[]> {
    const rows = await this.prisma.$queryRawUnsafe<
      {
        id: bigint;
        tenant: string;
        namespace: string;
        key: string;
        version: number;
        operation: string;
        created_at: Date;
        published_at: Date | null;
      }[]
    >(
      tenant === undefined
        ? `SELECT id, tenant, namespace, key, version, operation, created_at, published_at FROM outbox_events
           ORDER BY id DESC LIMIT $1`
        : `SELECT * FROM (
             SELECT id, tenant, namespace, key, version, operation, created_at, published_at FROM outbox_events
             ORDER BY id DESC LIMIT ${RECENT_OUTBOX_SCAN}) newest
           WHERE tenant = $2 ORDER BY id DESC LIMIT $1`,
      limit,
      ...(tenant === undefined ? [] : [tenant]),
    );
    return rows.map((r) => ({
      ...header(r),
      operation: r.operation,
      createdAt: r.created_at,
      publishedAt: r.published_at,
    }));
  }

  /** Unpublished outbox events and the age of the oldest (seconds); of one tenant with `tenant`. */
  async stats(tenant?: string): Promise<{ pending: number; lagSeconds: number }> {
    const rows = await this.prisma.$queryRawUnsafe<{ pending: number; lag: number }[]>(
      `SELECT count(*)::int AS pending, coalesce(extract(epoch FROM (now() - min(created_at))), 0)::float8 AS lag
       FROM outbox_events WHERE published_at IS NULL AND ($1::text IS NULL OR tenant = $1)`,
      tenant ?? null,
    );
    return { pending: Number(rows[0]?.pending ?? 0), lagSeconds: Math.max(0, Number(rows[0]?.lag ?? 0)) };
  }
}

function header(r: {
  id: bigint | number;
  tenant: string;
  namespace: string;
  key: string;
  version: number;
}): EventHeader {
  return { id: eventId(r.id), tenant: r.tenant, namespace: r.namespace, key: r.key, version: r.version };
}

function toEvent(r: PendingRow): OutboxEvent {
  const payload = (typeof r.payload === "string" ? JSON.parse(r.payload) : r.payload) as Record<string, unknown>;
  return {
    ...header(r),
    operation: r.operation,
    at: r.created_at.toISOString(),
    payload,
  };
}
