// Where the outbox relay publishes, chosen from the configuration, and how its failures are reported.
import path from "node:path";
import type { Config } from "../config";
import { errorName, logger } from "../logger";
import type { RedisClient } from "../state/redis";
import { type EventPublisher, FileLogPublisher, RedisStreamPublisher, WebhookPublisher } from "./relay";

/**
 * Redis Streams when Redis is configured, signed webhooks when URLs are given, and JSON lines under the
 * data directory when neither is (so events never pile up unpublished).
 */
export function publishersFor(
  config: Pick<Config, "STATEHOUSE_KEY_PREFIX" | "STATEHOUSE_WEBHOOK_URLS" | "STATEHOUSE_WEBHOOK_SECRET" | "dataDir">,
  redis: RedisClient | undefined,
  hotCall: <T>(fn: () => Promise<T>) => Promise<T>,
): EventPublisher[] {
  const publishers: EventPublisher[] = [];
  if (redis)
    publishers.push(new RedisStreamPublisher(redis, `${config.STATEHOUSE_KEY_PREFIX}events`, undefined, hotCall));
  const urls = config.STATEHOUSE_WEBHOOK_URLS?.split(",").map((u) => u.trim()) ?? [];
  for (const url of urls.filter(Boolean)) publishers.push(new WebhookPublisher(url, config.STATEHOUSE_WEBHOOK_SECRET!));
  if (publishers.length === 0) publishers.push(new FileLogPublisher(path.join(config.dataDir, "events")));
  return publishers;
}

/** The relay's onError: one warning per 30 s at most (it retries every tick while a publisher is down). */
export function relayErrorLog(publishers: readonly EventPublisher[]): (err: unknown) => void {
  let last = 0;
  return (err) => {
    if (Date.now() - last < 30_000) return;
    last = Date.now();
    logger.warn("outbox relay could not publish; will retry", {
      error: errorName(err),
      publishers: publishers.map((p) => p.name),
    });
  };
}
