import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CircuitBreaker } from "../../server/state/circuit-breaker";
import { guarded } from "../../server/state/guarded";
import { MemoryStore } from "../../server/state/memory";
import type { StateStore } from "../../server/state/store";

describe("circuit breaker", () => {
  it("opens after consecutive failures, probes once when half-open, closes on success", () => {
    let now = 0;
    const changes: string[] = [];
    const b = new CircuitBreaker({
      failureThreshold: 3,
      openMs: 1000,
      now: () => now,
      onStateChange: (s) => changes.push(s),
    });
    b.failure();
    b.failure();
    b.success(); // a success resets the count
    b.failure();
    b.failure();
    assert.equal(b.state, "closed");
    b.failure();
    assert.equal(b.state, "open");
    assert.equal(b.tryAcquire(), false);
    assert.equal(b.retryAfterMs, 1000);
    now = 1000;
    assert.equal(b.state, "half-open");
    assert.equal(b.tryAcquire(), true, "one probe");
    assert.equal(b.tryAcquire(), false, "only one probe at a time");
    b.failure();
    assert.equal(b.state, "open", "a failed probe opens again");
    now = 2000;
    assert.equal(b.tryAcquire(), true);
    b.success();
    assert.equal(b.state, "closed");
    assert.deepEqual(changes, ["open", "half-open", "open", "half-open", "closed"]);
  });
});

describe("guarded store", () => {
  const hanging = (): StateStore => {
    const inner = new MemoryStore();
    return Object.assign(Object.create(inner) as StateStore, { get: () => new Promise(() => {}), name: "hanging" });
  };

  it("fails a call that outlives its timeout with `unavailable`, not a hang", async () => {
    const store = guarded(hanging(), { timeoutMs: 50 });
    const started = Date.now();
    await assert.rejects(store.get({ tenant: "t", namespace: "n", key: "k" }), { code: "unavailable" });
    assert.ok(Date.now() - started < 1000);
  });

  it("opens the circuit after repeated failures and then fails fast", async () => {
    const store = guarded(hanging(), { timeoutMs: 20, breaker: { failureThreshold: 2, openMs: 60_000 } });
    const ref = { tenant: "t", namespace: "n", key: "k" };
    await assert.rejects(store.get(ref), { code: "unavailable" });
    await assert.rejects(store.get(ref), { code: "unavailable" });
    assert.equal(store.breaker.state, "open");
    const started = Date.now();
    await assert.rejects(
      store.get(ref),
      (err: { code: string; retryAfterSeconds: number }) => err.code === "unavailable" && err.retryAfterSeconds >= 1,
    );
    assert.ok(Date.now() - started < 15, "an open circuit does not wait for the timeout");
  });

  it("does not count caller errors as store failures, and hides driver messages", async () => {
    const inner = new MemoryStore();
    const failing = Object.assign(Object.create(inner) as StateStore, {
      ping: async () => {
        throw Object.assign(new Error("connect ECONNREFUSED postgres://user:secret@db:5432"), { code: "ECONNREFUSED" });
      },
    });
    const store = guarded(failing, { breaker: { failureThreshold: 2 } });
    const ref = { tenant: "t", namespace: "n", key: "k" };
    await inner.put(ref, 1);
    for (let i = 0; i < 5; i++)
      await assert.rejects(store.put(ref, 2, { ifVersion: 99 }), { code: "version_conflict" });
    assert.equal(store.breaker.state, "closed");
    await assert.rejects(
      store.ping(),
      (err: Error & { code: string }) => err.code === "unavailable" && !err.message.includes("secret"),
    );
  });
});
