// Cache invalidations across instances: one Redis pub/sub channel that says which cached entry went stale.
import { logger } from "./logger";
import type { RedisClient } from "./state/redis";

export type Invalidation = { type: "api_key"; id: string } | { type: "tenant_policy"; tenant: string };

/** Tells the other instances (and hears from them) that a per-process cache entry is stale. */
export interface InvalidationBus {
  publish(message: Invalidation): void;
  /** Calls `handler` for every message another instance (or this one) publishes. */
  subscribe(handler: (message: Invalidation) => void): Promise<void>;
  close(): void;
}

/** One process: nothing to tell. */
export const localInvalidation: InvalidationBus = { publish() {}, subscribe: async () => {}, close() {} };

/** Through Redis pub/sub on `<prefix>invalidate`; a lost message costs at most the caches' own 5 s lifetime. */
export function redisInvalidation(client: RedisClient, prefix: string): InvalidationBus {
  const channel = `${prefix}invalidate`;
  let subscriber: RedisClient | undefined;
  return {
    publish(message) {
      void client.publish(channel, JSON.stringify(message)).catch(() => {});
    },
    async subscribe(handler) {
      const sub = (client as { duplicate(): RedisClient }).duplicate();
      subscriber = sub;
      sub.on("error", () => {});
      // The client connects lazily (so does its duplicate): connect before subscribing.
      if (sub.status === "wait") await sub.connect().catch(() => {});
      sub.on("message", (_channel: string, text: string) => {
        const message = parseInvalidation(text);
        if (message) handler(message);
      });
      await sub
        .subscribe(channel)
        .catch(() =>
          logger.warn("could not subscribe to cache invalidations; revocations reach other instances within 5 s"),
        );
    },
    close() {
      subscriber?.disconnect();
    },
  };
}

function parseInvalidation(text: string): Invalidation | undefined {
  try {
    const m = JSON.parse(text) as { type?: unknown; id?: unknown; tenant?: unknown };
    if (m.type === "api_key" && typeof m.id === "string") return { type: "api_key", id: m.id };
    if (m.type === "tenant_policy" && typeof m.tenant === "string") return { type: "tenant_policy", tenant: m.tenant };
  } catch {
    // not ours
  }
  return undefined;
}
