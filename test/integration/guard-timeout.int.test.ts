// The guard's timeout is about the store, not about this process: an answer that reached the socket
// while the event loop was busy (a CPU-heavy request, a long GC) must not be reported as the store
// being down, or a saturated process would trip its own circuit breakers.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { guarded } from "../../server/state/guarded";
import { RedisStore } from "../../server/state/redis";
import type { StateStore } from "../../server/state/store";
import { MemoryStore } from "../../server/state/memory";
import { createTestRedis } from "../helpers/services";

function busyFor(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // the event loop is blocked, as by a request parsing a large document
  }
}

describe("store timeouts under a busy event loop (real Redis)", () => {
  const redis = createTestRedis();
  let redisStore: RedisStore;
  const ref = { tenant: "t", namespace: "kv", key: "busy" };

  before(async () => {
    redisStore = await RedisStore.fromUrl(redis.url, { keyPrefix: redis.prefix });
    await redisStore.put(ref, { n: 1 });
  });

  after(async () => {
    await redisStore.close();
    await redis.cleanup();
  });

  it("an answer that arrived while the loop was blocked past the timeout is a success", async () => {
    const store = guarded(redisStore, { timeoutMs: 100, breaker: { failureThreshold: 1 } });
    for (let i = 0; i < 3; i++) {
      const pending = store.get(ref);
      busyFor(400); // Redis answers within a millisecond; the reply waits in the socket
      const got = await pending;
      assert.equal(got?.version, 1);
    }
    assert.equal(store.breaker.state, "closed", "no failure was counted");
  });

  it("a store that does not answer still times out, and the breaker counts it", async () => {
    const silent: StateStore = Object.assign(Object.create(MemoryStore.prototype) as StateStore, new MemoryStore(), {
      get: () => new Promise<never>(() => {}),
    });
    const store = guarded(silent, { timeoutMs: 100, breaker: { failureThreshold: 1 } });
    const started = performance.now();
    await assert.rejects(
      store.get(ref),
      (err: Error & { code?: string }) => err.code === "unavailable" && /within 100 ms/.test(err.message),
    );
    const took = performance.now() - started;
    assert.ok(took >= 95 && took < 2000, `timed out after ${Math.round(took)} ms`);
    assert.equal(store.breaker.state, "open");
  });
});
