// The Redis rate limiter leases a few tokens per round trip under load: it must still never admit more
// than the shared buckets hold, across instances, and must cost far fewer Redis commands than requests.
// Every key of a tenant also shares the tenant's bucket.
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
  function instance(rate: number, burst: number, tenant = { ratePerSecond: rate, burst }) {
    const client = new Redis(redis.url);
    clients.push(client);
    const limiter = new RedisRateLimiter(client, redis.prefix, { key: { ratePerSecond: rate, burst }, tenant });
    const counted = client as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    const original = counted.statehouseRateTake3!;
    const stats = { commands: 0 };
    counted.statehouseRateTake3 = (...a: unknown[]) => {
      stats.commands++;
      return original.apply(client, a);
    };
    return { limiter, stats };
  }

  it("two instances under concurrent load admit at most the burst, and close to it, in few commands", async () => {
    const burst = 640;
    const [a, b] = [instance(0.001, burst), instance(0.001, burst)];
    const decisions = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => (i % 2 ? a : b).limiter.take("key-1", "t1")),
    );
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
    for (let i = 0; i < 5; i++) decisions.push(await limiter.take("key-2", "t2"));
    assert.deepEqual(
      decisions.map((d) => d.allowed),
      [true, true, true, false, false],
    );
    assert.deepEqual(
      decisions.map((d) => d.remaining),
      [2, 1, 0, 0, 0],
    );
    assert.ok(decisions.every((d) => d.limit === 3 && d.remaining <= d.limit));
    assert.equal(stats.commands, 5);
  });

  it("keys of one tenant share its bucket: more keys, no more rate, on every instance", async () => {
    const tenant = { ratePerSecond: 0.001, burst: 6 };
    const [a, b] = [instance(0.001, 100, tenant), instance(0.001, 100, tenant)];
    const decisions = [];
    for (let i = 0; i < 12; i++) decisions.push(await (i % 2 ? a : b).limiter.take(`key-${i % 4}`, "t3"));
    assert.equal(decisions.filter((d) => d.allowed).length, 6, "four keys on two instances share six tokens");
    assert.deepEqual(
      decisions.slice(0, 6).map((d) => [d.bucket, d.limit, d.remaining]),
      [5, 4, 3, 2, 1, 0].map((r) => ["tenant", 6, r]),
    );
    const refused = decisions[6]!;
    assert.equal(refused.allowed, false);
    assert.equal(refused.bucket, "tenant");
    assert.ok(refused.retryAfterMs > 0);
    // Another tenant's keys are untouched, and a refused request took nothing from its key's bucket.
    assert.equal((await a.limiter.take("key-0", "t4")).remaining, 5);
  });

  it("a key's own bucket binds when it is the smaller, and the headers' numbers are that bucket's", async () => {
    const { limiter } = instance(0.001, 2, { ratePerSecond: 0.001, burst: 50 });
    const d = [await limiter.take("key-9", "t5"), await limiter.take("key-9", "t5"), await limiter.take("key-9", "t5")];
    assert.deepEqual(
      d.map((x) => [x.allowed, x.bucket, x.limit, x.remaining]),
      [
        [true, "key", 2, 1],
        [true, "key", 2, 0],
        [false, "key", 2, 0],
      ],
    );
  });
});
