import { BUILT_IN_NAMESPACES } from "../../server/namespaces";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { FilesystemArchive } from "../../server/state/archive";
import { guarded } from "../../server/state/guarded";
import { MemoryStore } from "../../server/state/memory";
import { NamespaceRegistry } from "../../server/state/namespaces";
import { PostgresStore } from "../../server/state/postgres";
import type { StateStore } from "../../server/state/store";
import { TieredStore } from "../../server/state/tiered";

/** A memory store that can be switched off, failing every call like an unreachable Redis. */
function switchable(inner: StateStore): StateStore & { down: boolean } {
  const s = Object.create(inner) as StateStore & { down: boolean };
  s.down = false;
  for (const m of ["get", "put", "delete", "list", "setIfNewer", "ping"] as const) {
    (s as unknown as Record<string, unknown>)[m] = (...args: unknown[]) =>
      s.down
        ? Promise.reject(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }))
        : (inner[m] as (...a: unknown[]) => Promise<unknown>).apply(inner, args);
  }
  return s;
}

describe("tiered store behaviour", () => {
  let dir: string;
  let warm: PostgresStore;
  let hotInner: MemoryStore;
  let hot: ReturnType<typeof switchable>;
  let cold: FilesystemArchive;
  let store: TieredStore;
  const namespaces = new NamespaceRegistry(BUILT_IN_NAMESPACES);
  const t = "acme";

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "sh-tiered-unit-"));
    warm = await PostgresStore.open({ pgliteDir: path.join(dir, "pglite") });
    hotInner = new MemoryStore();
    hot = switchable(hotInner);
    cold = new FilesystemArchive(path.join(dir, "archive"));
    store = new TieredStore({
      hot: guarded(hot, { timeoutMs: 200, breaker: { failureThreshold: 1000 } }),
      warm: guarded(warm),
      cold: guarded(cold),
      durabilityOf: namespaces.durabilityOf,
    });
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses an undeclared namespace with a typed error and writes nothing", async () => {
    await assert.rejects(store.put({ tenant: t, namespace: "nope", key: "k" }, 1), { code: "unknown_namespace" });
    await assert.rejects(store.get({ tenant: t, namespace: "nope", key: "k" }), { code: "unknown_namespace" });
    assert.equal(await warm.get({ tenant: t, namespace: "nope", key: "k" }), undefined);
  });

  it("keeps ephemeral namespaces in the hot tier only", async () => {
    const ref = { tenant: t, namespace: "ratelimits", key: "user-1" };
    const rec = await store.put(ref, { tokens: 5 }, { ttlSeconds: 60 });
    assert.equal(rec.tier, "hot");
    assert.equal(await warm.get(ref), undefined, "nothing in warm");
    assert.equal((await store.get(ref))?.tier, "hot");
    await assert.rejects(store.put(ref, { tokens: 4 }, { ifVersion: 7 }), { code: "version_conflict" });
  });

  it("serves durable reads from warm and accepts writes while hot is down, and never serves a stale hot copy after", async () => {
    const ref = { tenant: t, namespace: "kv", key: "outage" };
    await store.put(ref, "v1");
    assert.equal((await store.get(ref))?.tier, "hot");
    hot.down = true;
    const written = await store.put(ref, "v2");
    assert.equal(written.version, 2, "the write is durable in warm even though hot failed");
    const during = await store.get(ref);
    assert.equal(during?.value, "v2");
    assert.equal(during?.tier, "warm");
    assert.equal((await hotInner.get(ref))?.value, "v1", "hot still holds the old copy");
    hot.down = false;
    const afterRecovery = await store.get(ref);
    assert.equal(afterRecovery?.value, "v2", "no stale value after recovery");
    await new Promise((r) => setTimeout(r, 1500)); // the repair loop runs every second
    assert.equal(store.pendingHotRepairs, 0);
    assert.equal((await hotInner.get(ref))?.value, "v2", "hot was repaired");
    assert.equal((await store.get(ref))?.tier, "hot");
  });

  it("restores an archived key on read, with its version and history", async () => {
    const ref = { tenant: t, namespace: "kv", key: "archived" };
    const at = new Date(Date.now() - 3600_000);
    await cold.importRecord(
      t,
      {
        namespace: "kv",
        key: "archived",
        value: { old: true },
        version: 4,
        schemaVersion: 1,
        createdAt: at,
        updatedAt: at,
        expiresAt: null,
        sizeBytes: 12,
      },
      [
        { version: 3, operation: "put", actor: null, value: { older: true }, schemaVersion: 1, sizeBytes: 14, at },
        { version: 4, operation: "put", actor: null, value: { old: true }, schemaVersion: 1, sizeBytes: 12, at },
      ],
    );
    const got = await store.get(ref);
    assert.equal(got?.tier, "cold");
    assert.equal(got?.version, 4);
    assert.equal((await warm.get(ref))?.version, 4, "restored into warm");
    assert.deepEqual((await store.getVersion(ref, 3))?.value, { older: true });
    const next = await store.put(ref, { new: true }, { ifVersion: 4 });
    assert.equal(next.version, 5);
  });

  it("buffers writes of a namespace that asks for it while warm is down, then replays them in order", async () => {
    const { MemoryJournal } = await import("../../server/state/journal");
    const warmSwitch = switchable(warm);
    const buffering = new TieredStore({
      hot: guarded(hotInner, { timeoutMs: 200 }),
      warm: guarded(warmSwitch, { timeoutMs: 200, breaker: { failureThreshold: 1000 } }),
      durabilityOf: namespaces.durabilityOf,
      whenWarmDownOf: namespaces.whenWarmDownOf,
      journal: new MemoryJournal(),
    });
    {
      const ref = { tenant: t, namespace: "sessions", key: "buffered" };
      const kvRef = { tenant: t, namespace: "kv", key: "not-buffered" };
      const first = await buffering.put(ref, { n: 1 });
      await buffering.put(kvRef, 1);
      warmSwitch.down = true;
      await assert.rejects(
        buffering.put(kvRef, 2),
        { code: "unavailable" },
        "a namespace that rejects still answers 503",
      );
      const b1 = await buffering.put(ref, { n: 2 }, { ifVersion: first.version });
      assert.equal(b1.durable, false);
      assert.equal(b1.version, first.version + 1);
      const b2 = await buffering.put(ref, { n: 3 }, { ifVersion: b1.version });
      assert.equal(b2.version, first.version + 2, "a compare-and-set chain works on buffered versions");
      await assert.rejects(buffering.put(ref, { n: 99 }, { ifVersion: b1.version }), { code: "version_conflict" });
      assert.deepEqual((await buffering.get(ref))?.value, { n: 3 }, "buffered writes are visible");
      await assert.rejects(
        buffering.put({ ...ref, key: "never-seen" }, 1),
        { code: "unavailable" },
        "without a hot copy the version is unknown: 503",
      );
      warmSwitch.down = false;
      await buffering.replayJournal();
      const durable = await warm.get(ref);
      assert.deepEqual(durable?.value, { n: 3 });
      assert.equal(durable?.version, b2.version, "warm has the same versions hot gave");
      assert.deepEqual(
        (await warm.history(ref)).slice(0, 3).map((h) => h.version),
        [b2.version, b1.version, first.version],
      );
      const after = await buffering.put(ref, { n: 4 }, { ifVersion: b2.version });
      assert.equal(after.durable, undefined);
    }
  });

  it("deletes in warm and hides the key in hot with a tombstone", async () => {
    const ref = { tenant: t, namespace: "kv", key: "gone" };
    await store.put(ref, 1);
    await store.get(ref);
    const res = await store.delete(ref);
    assert.deepEqual(res, { deleted: true, version: 2 });
    assert.equal(await store.get(ref), undefined);
    assert.equal(await hotInner.get(ref), undefined);
  });
});
