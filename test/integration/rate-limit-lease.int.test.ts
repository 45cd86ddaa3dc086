// The Redis rate limiter leases a few tokens per round trip under load: it must still never admit more
// than the shared bucket holds, across instances, and must cost far fewer Redis commands than requests.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { Redis } from "ioredis";
import { RedisRateLimiter } from "../../server/policies/rate-limit";
import { createTestRedis } from "../helpers/services";

describe("RedisRateLimiter with leases", () => {
  const redis = createTestRedis();
  const clients: Redis[] = [];
  after(async () => {
    for (const c of clients) c.disconnect();
    await redis.cleanup();
  });

  /** A limiter on its own connection (another instance), counting the commands it sends. */
  function instance(rate: number, burst: number) {
    const client = new Redis(redis.url);
    clients.push(client);
    const limiter = new RedisRateLimiter(client, redis.prefix, rate, burst);
    const counted = client as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    const original = counted.statehouseRateTake2!;
    const stats = { commands: 0 };
    counted.statehouseRateTake2 = (...a: unknown[]) => {
      stats.commands++;
      return original.apply(client, a);
    };
    return { limiter, stats };
  }

  it("two instances under concurrent load admit at most the burst, and close to it, in few commands", async () => {
    const burst = 640;
    const [a, b] = [instance(0.001, burst), instance(0.001, burst)];
    const decisions = await Promise.all(Array.from({ length: 1000 }, (_, i) => (i % 2 ? a : b).limiter.take("key-1")));
    const allowed = decisions.filter((d) => d.allowed).length;
    assert.ok(allowed <= burst, `admitted ${allowed} > burst ${burst}`);
    assert.ok(allowed >= burst - 2 * 20, `admitted only ${allowed} of ${burst}`);
    const commands = a.stats.commands + b.stats.commands;
    assert.ok(commands < 1000 / 4, `${commands} Redis commands for 1000 requests`);
    const denied = decisions.find((d) => !d.allowed)!;
    assert.ok(denied.retryAfterMs > 0);
  });

  it("a small burst leases nothing: exactly the burst is admitted", async () => {
    const { limiter, stats } = instance(0.001, 3);
    const decisions = [];
    for (let i = 0; i < 5; i++) decisions.push(await limiter.take("key-2"));
    assert.deepEqual(decisions.map((d) => d.allowed), [true, true, true, false, false]);
    assert.equal(stats.commands, 5);
  });
});
