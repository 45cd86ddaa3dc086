// Per-agent figures for the admin API and the dashboard: each tenant's agents' turns, their latency and
// tokens, per UTC hour. Metrics cannot carry these (tenants name their agents, and one series per name is
// unbounded), so they are counted here: in Redis when there is one (every instance adds to the same
// counts), in this process otherwise. They are figures, not state: a count that cannot be added (Redis
// down) is dropped, never retried, and never fails the turn it describes.
import type { RedisClient } from "../state/redis";
import type { AgentContext, AgentModel, ModelReply, TokenUsage } from "./model";

/** Upper bounds (ms) of the latency buckets; one more bucket counts what is slower than the last. */
export const LATENCY_BOUNDS_MS = [50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000] as const;

/** How long hourly counts are kept. */
export const USAGE_RETENTION_HOURS = 8 * 24;

/** One finished (or failed) model call of a turn. */
export interface TurnFigures {
  /** From the start of the turn to the model's last token (saving the turn afterwards is not included). */
  ms: number;
  inputTokens: number;
  outputTokens: number;
  failed: boolean;
}

/** One agent's counts in one UTC hour. */
export interface HourCounts {
  /** Milliseconds since the epoch at the hour's start. */
  hour: number;
  turns: number;
  failed: number;
  totalMs: number;
  inputTokens: number;
  outputTokens: number;
  /** Turns per latency bucket: LATENCY_BOUNDS_MS, then slower. */
  latency: number[];
}

export interface UsageLedger {
  add(tenant: string, agent: string, at: Date, figures: TurnFigures): Promise<void>;
  /** Hourly counts of each agent in [from, to] (hours with no turns are left out). */
  hours(tenant: string, agents: readonly string[], from: Date, to: Date): Promise<Map<string, HourCounts[]>>;
}

const HOUR_MS = 3_600_000;
const hourOf = (d: Date) => Math.floor(d.getTime() / HOUR_MS) * HOUR_MS;

function bucketOf(ms: number): number {
  const i = LATENCY_BOUNDS_MS.findIndex((bound) => ms <= bound);
  return i === -1 ? LATENCY_BOUNDS_MS.length : i;
}

function hoursBetween(from: Date, to: Date): number[] {
  const hours: number[] = [];
  for (let h = hourOf(from); h <= hourOf(to) && hours.length <= USAGE_RETENTION_HOURS; h += HOUR_MS) hours.push(h);
  return hours;
}

const FIELDS = ["turns", "failed", "totalMs", "inputTokens", "outputTokens"] as const;

/** Counts in Redis: one hash per tenant, agent and hour, expiring after the retention. */
export class RedisUsageLedger implements UsageLedger {
  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
  ) {}

  private key(tenant: string, agent: string, hour: number): string {
    // Braces: a tenant's counts share a cluster slot. Tenant and agent names have no ':' (both validated).
    return `${this.prefix}agent-usage:{${tenant}}:${agent}:${hour}`;
  }

  async add(tenant: string, agent: string, at: Date, f: TurnFigures): Promise<void> {
    const key = this.key(tenant, agent, hourOf(at));
    await this.client
      .multi()
      .hincrby(key, "turns", 1)
      .hincrby(key, "failed", f.failed ? 1 : 0)
      .hincrby(key, "totalMs", Math.round(f.ms))
      .hincrby(key, "inputTokens", f.inputTokens)
      .hincrby(key, "outputTokens", f.outputTokens)
      .hincrby(key, `b${bucketOf(f.ms)}`, 1)
      .expire(key, USAGE_RETENTION_HOURS * 3600)
      .exec();
  }

  async hours(tenant: string, agents: readonly string[], from: Date, to: Date) {
    const hours = hoursBetween(from, to);
    const pipeline = this.client.pipeline();
    for (const agent of agents) for (const hour of hours) pipeline.hgetall(this.key(tenant, agent, hour));
    const answers = (await pipeline.exec()) ?? [];
    const found = new Map<string, HourCounts[]>();
    agents.forEach((agent, a) => {
      const counts: HourCounts[] = [];
      hours.forEach((hour, h) => {
        const [err, raw] = answers[a * hours.length + h] ?? [];
        if (err) throw err;
        const fields = raw as Record<string, string> | null;
        if (!fields?.turns) return;
        const n = (name: string) => Number(fields[name] ?? 0);
        counts.push({
          hour,
          ...(Object.fromEntries(FIELDS.map((name) => [name, n(name)])) as Omit<HourCounts, "hour" | "latency">),
          latency: Array.from({ length: LATENCY_BOUNDS_MS.length + 1 }, (_, i) => n(`b${i}`)),
        });
      });
      found.set(agent, counts);
    });
    return found;
  }
}

/** Counts in this process, for the embedded single-instance default (no Redis). */
export class MemoryUsageLedger implements UsageLedger {
  private readonly counts = new Map<string, HourCounts>();
  private prunedHour = 0;

  async add(tenant: string, agent: string, at: Date, f: TurnFigures): Promise<void> {
    const hour = hourOf(at);
    if (hour !== this.prunedHour) this.prune(hour);
    const key = JSON.stringify([tenant, agent, hour]);
    let c = this.counts.get(key);
    if (!c) {
      c = { hour, turns: 0, failed: 0, totalMs: 0, inputTokens: 0, outputTokens: 0, latency: [] };
      c.latency = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);
      this.counts.set(key, c);
    }
    c.turns++;
    if (f.failed) c.failed++;
    c.totalMs += Math.round(f.ms);
    c.inputTokens += f.inputTokens;
    c.outputTokens += f.outputTokens;
    c.latency[bucketOf(f.ms)] = (c.latency[bucketOf(f.ms)] ?? 0) + 1;
  }

  async hours(tenant: string, agents: readonly string[], from: Date, to: Date) {
    const hours = hoursBetween(from, to);
    return new Map(
      agents.map((agent) => [
        agent,
        hours.flatMap((hour) => {
          const c = this.counts.get(JSON.stringify([tenant, agent, hour]));
          return c ? [{ ...c, latency: [...c.latency] }] : [];
        }),
      ]),
    );
  }

  /** Drops hours past the retention, once per hour that starts. */
  private prune(hour: number): void {
    this.prunedHour = hour;
    for (const [key, c] of this.counts) if (c.hour <= hour - USAGE_RETENTION_HOURS * HOUR_MS) this.counts.delete(key);
  }
}

/** An agent's figures over some hours: totals and latency quantiles read from the buckets. */
export interface UsageSummary {
  turns: number;
  failedTurns: number;
  inputTokens: number;
  outputTokens: number;
  /** null with no turns. Quantiles are interpolated within their bucket, as PromQL's histogram_quantile does. */
  latencyMs: { mean: number; p50: number; p95: number } | null;
}

export function summarize(hours: readonly HourCounts[]): UsageSummary {
  const sum = (pick: (c: HourCounts) => number) => hours.reduce((n, c) => n + pick(c), 0);
  const turns = sum((c) => c.turns);
  const buckets = LATENCY_BOUNDS_MS.map((_, i) => sum((c) => c.latency[i] ?? 0));
  buckets.push(sum((c) => c.latency[LATENCY_BOUNDS_MS.length] ?? 0));
  return {
    turns,
    failedTurns: sum((c) => c.failed),
    inputTokens: sum((c) => c.inputTokens),
    outputTokens: sum((c) => c.outputTokens),
    latencyMs:
      turns === 0
        ? null
        : {
            mean: Math.round(sum((c) => c.totalMs) / turns),
            p50: quantile(buckets, 0.5),
            p95: quantile(buckets, 0.95),
          },
  };
}

/** The q-quantile of bucketed counts; past the last bound it answers the last bound (a floor, as Prometheus does). */
export function quantile(buckets: readonly number[], q: number): number {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < buckets.length; i++) {
    const count = buckets[i]!;
    if (count > 0 && below + count >= rank) {
      if (i === LATENCY_BOUNDS_MS.length) return LATENCY_BOUNDS_MS[i - 1]!;
      const lower = i === 0 ? 0 : LATENCY_BOUNDS_MS[i - 1]!;
      return Math.round(lower + (LATENCY_BOUNDS_MS[i]! - lower) * ((rank - below) / count));
    }
    below += count;
  }
  return LATENCY_BOUNDS_MS.at(-1)!;
}

/**
 * The agent's model for one turn, its figures counted for `tenant` and `agent`: the time from now (the
 * turn's start) to the model's last token, and the tokens it used. Counting never delays or fails the turn.
 */
export function countedModel(
  model: AgentModel,
  count: (figures: TurnFigures) => Promise<void>,
  now: () => number = () => performance.now(),
): AgentModel {
  const started = now();
  const settle = (usage: TokenUsage | undefined) => {
    const figures = {
      ms: now() - started,
      inputTokens: usage?.inputTokens ?? 0,
      outputTokens: usage?.outputTokens ?? 0,
      failed: usage === undefined,
    };
    void Promise.resolve()
      .then(() => count(figures))
      .catch(() => undefined);
  };
  return {
    name: model.name,
    async reply(c: AgentContext): Promise<ModelReply> {
      let reply: ModelReply | undefined;
      try {
        return (reply = await model.reply(c));
      } finally {
        settle(reply?.usage);
      }
    },
    // A stream the caller abandons (the client went away) counts as a failed turn.
    async *stream(c: AgentContext) {
      let usage: TokenUsage | undefined;
      try {
        return (usage = yield* model.stream(c));
      } finally {
        settle(usage);
      }
    },
  };
}
