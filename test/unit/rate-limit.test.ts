// The in-process limiter (no Redis): a key's bucket and its tenant's, and headers that agree.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { failOpen, MemoryRateLimiter } from "../../server/policies/rate-limit";

describe("MemoryRateLimiter", () => {
  it("keys of one tenant share the tenant's bucket; other tenants are untouched", async () => {
    let now = 0;
    const limiter = new MemoryRateLimiter(
      { key: { ratePerSecond: 10, burst: 4 }, tenant: { ratePerSecond: 2, burst: 5 } },
      () => now,
    );
    const allowed = [];
    for (let i = 0; i < 9; i++) allowed.push((await limiter.take(`k${i % 3}`, "acme")).allowed);
    assert.deepEqual(
      allowed,
      [true, true, true, true, true, false, false, false, false],
      "three keys share five tokens",
    );
    const refused = await limiter.take("k0", "acme");
    assert.deepEqual([refused.bucket, refused.limit, refused.remaining, refused.retryAfterMs], ["tenant", 5, 0, 500]);
    assert.equal((await limiter.take("k9", "globex")).allowed, true);
    now += 500; // one tenant token back at 2/s
    assert.equal((await limiter.take("k1", "acme")).allowed, true);
    assert.equal((await limiter.take("k2", "acme")).allowed, false);
  });

  it("reports the bucket that binds: remaining never above limit", async () => {
    let now = 0;
    const limiter = new MemoryRateLimiter(
      { key: { ratePerSecond: 1000, burst: 2000 }, tenant: { ratePerSecond: 100, burst: 300 } },
      () => now,
    );
    const first = await limiter.take("k", "t");
    assert.deepEqual([first.bucket, first.limit, first.remaining], ["tenant", 300, 299]);
    const small = new MemoryRateLimiter(
      { key: { ratePerSecond: 1, burst: 3 }, tenant: { ratePerSecond: 100, burst: 300 } },
      () => now,
    );
    const d = [];
    for (let i = 0; i < 4; i++) d.push(await small.take("k", "t"));
    assert.deepEqual(
      d.map((x) => [x.allowed, x.bucket, x.limit, x.remaining]),
      [
        [true, "key", 3, 2],
        [true, "key", 3, 1],
        [true, "key", 3, 0],
        [false, "key", 3, 0],
      ],
    );
    assert.equal(d[3]!.retryAfterMs, 1000);
    now += 10_000;
    for (let i = 0; i < 50; i++) {
      const x = await limiter.take(`k${i}`, "t");
      assert.ok(x.remaining <= x.limit && x.remaining >= 0);
    }
  });

  it("fails open with full, agreeing numbers", () => {
    const limiter = new MemoryRateLimiter({
      key: { ratePerSecond: 1000, burst: 2000 },
      tenant: { ratePerSecond: 500, burst: 1000 },
    });
    assert.deepEqual(failOpen(limiter), {
      allowed: true,
      bucket: "tenant",
      limit: 1000,
      remaining: 1000,
      retryAfterMs: 0,
    });
  });
});
