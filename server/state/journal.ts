import { randomUUID } from "node:crypto";
import type { RedisClient } from "./redis";

/** A write accepted while the warm tier was down, waiting to be applied there in order. */
export interface JournalEntry {
  id: string;
  tenant: string;
  namespace: string;
  key: string;
  value: unknown;
  /** The version the write replaced (0 = the key was absent): applied to warm with this as If-Match. */
  expectedVersion: number;
  /** The version it was given in hot, and will have in warm. */
  version: number;
  ttlSeconds?: number;
  idleTtlSeconds?: number;
  schemaVersion?: number;
  actor?: string;
  at: number;
}

/** The ordered journal of buffered writes (design: warm down, namespace policy "buffer"). */
export interface WriteJournal {
  append(entry: JournalEntry): Promise<void>;
  /** The oldest `n` entries, oldest first. */
  peek(n: number): Promise<JournalEntry[]>;
  /** Removes the oldest entry (after it was applied or reported). */
  ackFirst(): Promise<void>;
  length(): Promise<number>;
  /** Runs `fn` while holding the journal's replay lock (one replayer at a time); undefined if another holds it. */
  exclusive<T>(fn: () => Promise<T>): Promise<T | undefined>;
}

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/**
 * In Redis, shared by every instance: a list, and a lock with a lease so a dead replayer cannot block it.
 * Each command goes through `call`: the Redis connection's shared health (timeout and circuit breaker).
 */
export class RedisJournal implements WriteJournal {
  private readonly list: string;
  private readonly lock: string;

  constructor(
    private readonly client: RedisClient,
    prefix: string,
    private readonly call: <T>(command: () => Promise<T>) => Promise<T> = (command) => command(),
  ) {
    this.list = `${prefix}journal`;
    this.lock = `${prefix}journal:lock`;
  }

  async append(entry: JournalEntry): Promise<void> {
    await this.call(() => this.client.rpush(this.list, JSON.stringify(entry)));
  }

  async peek(n: number): Promise<JournalEntry[]> {
    return (await this.call(() => this.client.lrange(this.list, 0, n - 1))).map((s) => JSON.parse(s) as JournalEntry);
  }

  async ackFirst(): Promise<void> {
    await this.call(() => this.client.lpop(this.list));
  }

  async length(): Promise<number> {
    return this.call(() => this.client.llen(this.list));
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T | undefined> {
    const token = randomUUID();
    if ((await this.call(() => this.client.set(this.lock, token, "PX", 30_000, "NX"))) !== "OK") return undefined;
    try {
      return await fn();
    } finally {
      await this.call(() => this.client.eval(RELEASE, 1, this.lock, token)).catch(() => {});
    }
  }
}

/** In this process, for the embedded default (no Redis). */
export class MemoryJournal implements WriteJournal {
  private readonly entries: JournalEntry[] = [];
  private locked = false;

  async append(entry: JournalEntry): Promise<void> {
    this.entries.push(structuredClone(entry));
  }
  async peek(n: number): Promise<JournalEntry[]> {
    return this.entries.slice(0, n).map((e) => structuredClone(e));
  }
  async ackFirst(): Promise<void> {
    this.entries.shift();
  }
  async length(): Promise<number> {
    return this.entries.length;
  }
  async exclusive<T>(fn: () => Promise<T>): Promise<T | undefined> {
    if (this.locked) return undefined;
    this.locked = true;
    try {
      return await fn();
    } finally {
      this.locked = false;
    }
  }
}

export const newJournalId = () => randomUUID();
