import { BUILT_IN_NAMESPACES } from "../../server/namespaces";
// One health per backend connection, shared by all its users, and a per-request memory of timeouts:
// together they bound a request to one hot timeout followed by the warm tier's answer.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CircuitBreaker } from "../../server/state/circuit-breaker";
import { loadConfig } from "../../server/config";
import { guarded } from "../../server/state/guarded";
import { StoreHealth } from "../../server/state/health";
import { MemoryStore } from "../../server/state/memory";
import { NamespaceRegistry } from "../../server/state/namespaces";
import { inRequestScope } from "../../server/state/request-scope";
import type { StateStore } from "../../server/state/store";
import { TieredStore } from "../../server/state/tiered";
import { withTimeout } from "../../server/state/timeout";

const never = () => new Promise<never>(() => {});

/** A memory store whose every call hangs while `paused` (like a SIGSTOPped Redis), counting the calls that reached it. */
function pausable(): StateStore & { paused: boolean; reached: number } {
  const inner = new MemoryStore();
  const s = Object.create(inner) as StateStore & { paused: boolean; reached: number };
  s.paused = false;
  s.reached = 0;
  for (const m of ["get", "put", "delete", "setIfNewer", "touch", "ping"] as const) {
    (s as unknown as Record<string, unknown>)[m] = (...args: unknown[]) => {
      s.reached++;
      return s.paused ? never() : (inner[m] as (...a: unknown[]) => Promise<unknown>).apply(inner, args);
    };
  }
  return s;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; result?: T; error?: unknown }> {
  const started = performance.now();
  try {
    const result = await fn();
    return { ms: performance.now() - started, result };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

describe("store health", () => {
  it("trip() opens a closed circuit at once and does not extend an open one", () => {
    let now = 0;
    const b = new CircuitBreaker({ failureThreshold: 5, openMs: 1000, now: () => now });
    b.trip();
    assert.equal(b.state, "open");
    now = 600;
    b.trip(); // a late timeout of a call started before the circuit opened
    now = 1000;
    assert.equal(b.state, "half-open", "opened at 0, not at 600");
    assert.equal(b.tryAcquire(), true);
    b.success();
    assert.equal(b.state, "closed");
  });

  it("a timeout seen by one user of the connection makes every other user fail fast", async () => {
    const health = new StoreHealth({
      name: "redis",
      timeoutMs: 300,
      breaker: { failureThreshold: 5, openMs: 60_000 },
      openOnTimeout: true,
    });
    const hot = pausable();
    const store = guarded(hot, { health });
    hot.paused = true;
    // the rate limiter (a direct Redis command) times out first...
    const first = await timed(() => health.call(never));
    assert.equal((first.error as { code?: string }).code, "unavailable");
    assert.ok(first.ms >= 295, `waited its timeout (${Math.round(first.ms)} ms)`);
    assert.equal(store.breaker.state, "open", "one timeout opens the shared circuit");
    // ...then the hot tier, the quota counter, the journal: none reaches Redis or waits
    const reached = hot.reached;
    const second = await timed(() => store.get({ tenant: "t", namespace: "kv", key: "k" }));
    assert.equal((second.error as { code?: string }).code, "unavailable");
    assert.ok(second.ms < 150, `failed fast (${Math.round(second.ms)} ms)`);
    assert.equal(hot.reached, reached, "the paused backend was not called");
  });

  it("without openOnTimeout a timeout counts toward the threshold, but the same request never waits on that backend again", async () => {
    const health = new StoreHealth({ name: "postgres", timeoutMs: 300, breaker: { failureThreshold: 100 } });
    let calls = 0;
    const slow = () => {
      calls++;
      return never();
    };
    await inRequestScope(async () => {
      const first = await timed(() => health.call(slow));
      assert.ok(first.ms >= 295);
      const second = await timed(() => health.call(slow));
      assert.equal((second.error as { code?: string }).code, "unavailable");
      assert.ok(second.ms < 150, `the second call in the request failed fast (${Math.round(second.ms)} ms)`);
      assert.equal(calls, 1);
    });
    assert.equal(health.breaker.state, "closed", "one timeout alone does not open a warm circuit");
    // another request is not affected by what the first one learnt
    const other = await inRequestScope(() => timed(() => health.call(slow)));
    assert.ok(other.ms >= 295, "a new request tries the backend again");
    assert.equal(calls, 2);
  });

  it("passes callers' errors through as successes and hides driver messages", async () => {
    const health = new StoreHealth({ name: "redis", breaker: { failureThreshold: 1 } });
    await assert.rejects(
      health.call(async () =>
        Promise.reject(
          Object.assign(new Error("conflict"), { name: "VersionConflictError", code: "version_conflict", details: {} }),
        ),
      ),
      { code: "version_conflict" },
    );
    assert.equal(health.breaker.state, "closed");
    await assert.rejects(
      health.call(async () =>
        Promise.reject(Object.assign(new Error("connect ECONNREFUSED redis://:secret@h"), { code: "ECONNREFUSED" })),
      ),
      (err: Error & { code: string }) => err.code === "unavailable" && !err.message.includes("secret"),
    );
    assert.equal(health.breaker.state, "open");
  });

  it("with the hot tier paused, a request's rate-limit check, quota count and read cost one hot timeout plus the warm answer", async () => {
    const hotTimeoutMs = 400;
    const hotHealth = new StoreHealth({
      name: "redis",
      timeoutMs: hotTimeoutMs,
      breaker: { failureThreshold: 5, openMs: 60_000 },
      openOnTimeout: true,
    });
    const hot = pausable();
    const warm = new MemoryStore();
    const namespaces = new NamespaceRegistry(BUILT_IN_NAMESPACES);
    const tiered = new TieredStore({
      hot: guarded(hot, { health: hotHealth }),
      warm: guarded(warm, { timeoutMs: 2000 }),
      durabilityOf: namespaces.durabilityOf,
    });
    try {
      const ref = { tenant: "t", namespace: "kv", key: "k" };
      await tiered.put(ref, { n: 1 });
      hot.paused = true;
      // Eight requests in flight when Redis stops: each checks its rate limit, counts a quota, reads.
      const requests = Array.from({ length: 8 }, () =>
        inRequestScope(() =>
          timed(async () => {
            await hotHealth.call(never).catch(() => undefined); // rate limit: fails open
            await hotHealth.call(never).catch(() => undefined); // quota counter: fails open
            return tiered.get(ref);
          }),
        ),
      );
      for (const r of await Promise.all(requests)) {
        assert.equal((r.result as { tier?: string } | undefined)?.tier, "warm", "answered by warm");
        assert.ok(r.ms < hotTimeoutMs + 300, `one hot timeout, not two or three (${Math.round(r.ms)} ms)`);
      }
      // A later request finds the circuit open and waits for nothing.
      const later = await inRequestScope(() => timed(() => tiered.get(ref)));
      assert.equal((later.result as { tier?: string } | undefined)?.tier, "warm");
      assert.ok(later.ms < 200, `${Math.round(later.ms)} ms`);
    } finally {
      await tiered.close();
    }
  });

  it("withTimeout settles with the promise, or rejects with a TimeoutError", async () => {
    assert.equal(await withTimeout(Promise.resolve(7), 50), 7);
    await assert.rejects(withTimeout(never(), 20), { name: "TimeoutError" });
  });
});

describe("per-tier timeouts (configuration)", () => {
  it("hot 250 ms, warm 2 s, cold 5 s by default", () => {
    const c = loadConfig({});
    assert.deepEqual(
      [c.STATEHOUSE_HOT_TIMEOUT_MS, c.STATEHOUSE_WARM_TIMEOUT_MS, c.STATEHOUSE_COLD_TIMEOUT_MS],
      [250, 2000, 5000],
    );
  });

  it("the deprecated STATEHOUSE_STORE_TIMEOUT_MS still sets warm and cold, and each tier's own variable wins", () => {
    const legacy = loadConfig({ STATEHOUSE_STORE_TIMEOUT_MS: "800" });
    assert.deepEqual(
      [legacy.STATEHOUSE_HOT_TIMEOUT_MS, legacy.STATEHOUSE_WARM_TIMEOUT_MS, legacy.STATEHOUSE_COLD_TIMEOUT_MS],
      [250, 800, 800],
    );
    const own = loadConfig({
      STATEHOUSE_STORE_TIMEOUT_MS: "800",
      STATEHOUSE_HOT_TIMEOUT_MS: "100",
      STATEHOUSE_WARM_TIMEOUT_MS: "1500",
      STATEHOUSE_COLD_TIMEOUT_MS: "9000",
    });
    assert.deepEqual(
      [own.STATEHOUSE_HOT_TIMEOUT_MS, own.STATEHOUSE_WARM_TIMEOUT_MS, own.STATEHOUSE_COLD_TIMEOUT_MS],
      [100, 1500, 9000],
    );
  });

  it("refuses a timeout that is not a positive integer, naming the variable", () => {
    assert.throws(() => loadConfig({ STATEHOUSE_HOT_TIMEOUT_MS: "0" }), /STATEHOUSE_HOT_TIMEOUT_MS/);
  });
});
