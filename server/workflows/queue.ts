import type { RedisClient } from "../state/redis";

/** A run waiting for a worker: its tenant and id. */
export interface QueuedRun {
  readonly tenant: string;
  readonly runId: string;
}

/**
 * The fast path for finding work: runs by the time they become due. It is only a hint — a worker
 * claims a run through its record's version, and a periodic scan of the warm tier finds every run the
 * queue lost (an entry popped by a worker that then died, a push that failed) — so the queue may drop
 * or repeat entries without losing or duplicating a run.
 */
export interface RunQueue {
  readonly name: string;
  /** Makes the run due at `dueAt` (epoch ms); a run already queued moves to the new time. */
  push(run: QueuedRun, dueAt: number): Promise<void>;
  /** Removes and returns one run due at or before `now`, or undefined. */
  pop(now: number): Promise<QueuedRun | undefined>;
}

const encode = (r: QueuedRun) => `${r.tenant}/${r.runId}`;
function decode(member: string): QueuedRun | undefined {
  const i = member.indexOf("/");
  return i > 0 ? { tenant: member.slice(0, i), runId: member.slice(i + 1) } : undefined;
}

// Take the earliest due member and remove it in one step, so two workers never pop the same entry.
const POP_DUE = `
local m = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1)
if #m == 0 then return false end
redis.call('ZREM', KEYS[1], m[1])
return m[1]`;

/** A sorted set in the hot tier (score = due time), shared by every process on the same Redis. */
export class RedisRunQueue implements RunQueue {
  readonly name = "redis";
  private readonly key: string;

  constructor(
    private readonly client: RedisClient,
    keyPrefix: string,
    /** Runs each command through the Redis connection's shared health (timeout and circuit breaker). */
    private readonly call: <T>(command: () => Promise<T>) => Promise<T> = (command) => command(),
  ) {
    this.key = `${keyPrefix}workflows:due`;
    if (!("statehouseWorkflowPop" in client))
      client.defineCommand("statehouseWorkflowPop", { numberOfKeys: 1, lua: POP_DUE });
  }

  async push(run: QueuedRun, dueAt: number): Promise<void> {
    await this.call(() => this.client.zadd(this.key, dueAt, encode(run)));
  }

  async pop(now: number): Promise<QueuedRun | undefined> {
    const client = this.client as unknown as {
      statehouseWorkflowPop(key: string, now: number): Promise<string | null>;
    };
    const member = (await this.call(() => client.statehouseWorkflowPop(this.key, now))) ?? undefined;
    return member === undefined ? undefined : decode(member);
  }
}

/** The same in-process, for deployments without Redis (workers in other processes rely on the scan). */
export class MemoryRunQueue implements RunQueue {
  readonly name = "memory";
  private readonly due = new Map<string, number>();

  async push(run: QueuedRun, dueAt: number): Promise<void> {
    this.due.set(encode(run), dueAt);
  }

  async pop(now: number): Promise<QueuedRun | undefined> {
    let best: [string, number] | undefined;
    for (const entry of this.due) if (entry[1] <= now && (!best || entry[1] < best[1])) best = entry;
    if (!best) return undefined;
    this.due.delete(best[0]);
    return decode(best[0]);
  }
}
