import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { StateError } from "../../server/state/errors";
import type { Capability, StateRef, StateStore } from "../../server/state/store";

export interface ConformanceInit {
  name: string;
  create(): Promise<StateStore>;
  destroy?(store: StateStore): Promise<void>;
  /** A namespace the store accepts (the tiered store needs a declared, durable one). */
  namespace?: string;
  /**
   * Size of the concurrent compare-and-set test (default 8 writers x 250 increments). Smaller for
   * backends whose every write is several HTTP round trips (object storage): same contention, fewer rounds.
   */
  concurrency?: { writers: number; increments: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<StateError> {
  try {
    await promise;
  } catch (err) {
    assert.equal((err as StateError).code, code, `expected code ${code}, got ${(err as Error).message}`);
    return err as StateError;
  }
  assert.fail(`expected a ${code} error, but the call succeeded`);
}

/**
 * The store contract (server/state/store.ts) as tests. Every tier, wrapper and the tiered composition
 * run it; an ability a store does not declare must answer `unsupported`.
 */
export function stateStoreConformance(init: ConformanceInit): void {
  describe(`state store conformance: ${init.name}`, () => {
    let store: StateStore;
    const tenant = `t${randomBytes(3).toString("hex")}`;
    const namespace = init.namespace ?? "conformance";
    let n = 0;
    const fresh = (label = "k"): StateRef => ({
      tenant,
      namespace,
      key: `${label}-${++n}-${randomBytes(3).toString("hex")}`,
    });
    const has = (c: Capability) => store.capabilities.has(c);

    before(async () => {
      store = await init.create();
    });
    after(async () => {
      if (init.destroy) await init.destroy(store);
      else await store.close();
    });

    it("answers undefined for a key never written", async () => {
      assert.equal(await store.get(fresh()), undefined);
    });

    it("creates a record at version 1 with its metadata", async () => {
      const ref = fresh();
      const before = Date.now();
      const rec = await store.put(ref, { hello: "world", n: 1 });
      assert.equal(rec.version, 1);
      assert.equal(rec.namespace, namespace);
      assert.equal(rec.key, ref.key);
      assert.deepEqual(rec.value, { hello: "world", n: 1 });
      assert.equal(rec.sizeBytes, Buffer.byteLength(JSON.stringify({ hello: "world", n: 1 })));
      assert.equal(rec.schemaVersion, 1);
      assert.equal(rec.expiresAt, null);
      assert.ok(rec.createdAt.getTime() >= before - 1000 && rec.createdAt.getTime() <= Date.now() + 1000);
      const got = await store.get(ref);
      assert.ok(got);
      assert.equal(got.version, 1);
      assert.deepEqual(got.value, { hello: "world", n: 1 });
      assert.equal(got.createdAt.getTime(), rec.createdAt.getTime());
    });

    it("keeps object key order and value types exactly", async () => {
      const ref = fresh();
      const value = { z: 1, a: [true, null, 1.5, "s"], m: { y: {}, b: [] } };
      await store.put(ref, value);
      const got = await store.get(ref);
      assert.equal(JSON.stringify(got?.value), JSON.stringify(value));
    });

    it("adds exactly 1 to the version on every change and keeps createdAt", async () => {
      const ref = fresh();
      const first = await store.put(ref, 1);
      await sleep(5);
      const second = await store.put(ref, 2);
      const third = await store.put(ref, 3, { schemaVersion: 2 });
      assert.deepEqual([first.version, second.version, third.version], [1, 2, 3]);
      assert.equal(third.createdAt.getTime(), first.createdAt.getTime());
      assert.ok(third.updatedAt.getTime() > first.updatedAt.getTime());
      const got = await store.get(ref);
      assert.equal(got?.value, 3);
      assert.equal(got?.version, 3);
      assert.equal(got?.schemaVersion, 2);
    });

    it("compare-and-set succeeds on the current version and reports the current version on conflict", async () => {
      const ref = fresh();
      await store.put(ref, "a");
      const ok = await store.put(ref, "b", { ifVersion: 1 });
      assert.equal(ok.version, 2);
      const err = await rejectsWithCode(store.put(ref, "c", { ifVersion: 1 }), "version_conflict");
      assert.equal(err.details.currentVersion, 2);
      const got = await store.get(ref);
      assert.equal(got?.value, "b", "a failed compare-and-set changes nothing");
      assert.equal(got?.version, 2);
    });

    it("compare-and-set on an absent key conflicts with current version null", async () => {
      const ref = fresh();
      const err = await rejectsWithCode(store.put(ref, "x", { ifVersion: 1 }), "version_conflict");
      assert.equal(err.details.currentVersion, null);
      assert.equal(await store.get(ref), undefined);
    });

    it("create-only writes when absent and conflicts when present", async () => {
      const ref = fresh();
      const rec = await store.put(ref, "first", { createOnly: true });
      assert.equal(rec.version, 1);
      const err = await rejectsWithCode(store.put(ref, "second", { createOnly: true }), "version_conflict");
      assert.equal(err.details.currentVersion, 1);
      assert.equal((await store.get(ref))?.value, "first");
    });

    it("deletes without a version, and a second delete finds nothing", async () => {
      const ref = fresh();
      await store.put(ref, "v");
      const res = await store.delete(ref);
      assert.deepEqual(res, { deleted: true, version: 2 });
      assert.equal(await store.get(ref), undefined);
      assert.deepEqual(await store.delete(ref), { deleted: false, version: null });
    });

    it("deletes with a version only when it matches", async () => {
      const ref = fresh();
      await store.put(ref, "v1");
      await store.put(ref, "v2");
      const err = await rejectsWithCode(store.delete(ref, { ifVersion: 1 }), "version_conflict");
      assert.equal(err.details.currentVersion, 2);
      assert.equal((await store.get(ref))?.value, "v2");
      assert.deepEqual(await store.delete(ref, { ifVersion: 2 }), { deleted: true, version: 3 });
      assert.equal(await store.get(ref), undefined);
      const absent = await rejectsWithCode(store.delete(ref, { ifVersion: 3 }), "version_conflict");
      assert.equal(absent.details.currentVersion, null);
    });

    it("continues the version count when a deleted key is written again", async () => {
      const ref = fresh();
      await store.put(ref, 1);
      await store.delete(ref);
      const again = await store.put(ref, 2, { createOnly: true });
      assert.equal(again.version, 3, "versions are never reused, so an old ETag can never match a new record");
    });

    it("erases a key with every version, leaving nothing, and a new write starts again at 1", async () => {
      const ref = fresh("erase");
      const kept = fresh("erase");
      const other = { ...ref, tenant: `${tenant}x` };
      await store.put(ref, { secret: 1 });
      await store.put(ref, { secret: 2 });
      await store.put(kept, "kept");
      await store.put(other, "theirs");
      assert.deepEqual(await store.erase(ref), { erased: true, version: 2 });
      assert.equal(await store.get(ref), undefined);
      assert.equal(await store.get(ref, { consistency: "strong" }), undefined);
      if (has("history")) {
        assert.deepEqual(await store.history(ref), []);
        assert.equal(await store.getVersion(ref, 1), undefined);
      }
      if (has("list")) {
        const keys = (await store.list(tenant, namespace, { prefix: "erase-" })).items.map((i) => i.key);
        assert.ok(!keys.includes(ref.key) && keys.includes(kept.key));
      }
      assert.equal((await store.get(kept))?.value, "kept");
      assert.equal((await store.get(other))?.value, "theirs", "the same key of another tenant stays");
      assert.deepEqual(await store.erase(ref), { erased: false, version: null });
      const again = await store.put(ref, { fresh: true }, { createOnly: true });
      assert.equal(again.version, 1, "nothing of the key is left, not even its version count");
      assert.deepEqual((await store.get(ref))?.value, { fresh: true });
      if (has("history"))
        assert.deepEqual(
          (await store.history(ref)).map((e) => e.version),
          [1],
        );
    });

    it("erases a deleted key's tombstone and history, and answers false for a key never written", async () => {
      const ref = fresh("erase");
      await store.put(ref, "a");
      await store.delete(ref);
      assert.deepEqual(await store.erase(ref), { erased: true, version: 2 });
      if (has("history")) assert.deepEqual(await store.history(ref), []);
      assert.equal((await store.put(ref, "b")).version, 1);
      assert.deepEqual(await store.erase(fresh("erase")), { erased: false, version: null });
    });

    it("keeps tenants apart", async () => {
      const ref = fresh();
      const other = { ...ref, tenant: `${tenant}x` };
      await store.put(ref, "mine");
      assert.equal(await store.get(other), undefined);
      await store.put(other, "theirs");
      assert.equal((await store.get(ref))?.value, "mine");
      assert.equal((await store.get(other))?.version, 1);
    });

    it("round-trips values up to 1 MiB", async () => {
      const ref = fresh();
      const big = "x".repeat(1024 * 1024 - 2); // 1 MiB of JSON text with its quotes
      const rec = await store.put(ref, big);
      assert.equal(rec.sizeBytes, 1024 * 1024);
      const got = await store.get(ref);
      assert.equal((got!.value as string).length, big.length);
      assert.equal(got?.sizeBytes, 1024 * 1024);
      const nested = { items: Array.from({ length: 5000 }, (_, i) => ({ i, text: "é🔑".repeat(20) })) };
      await store.put(ref, nested);
      assert.deepEqual((await store.get(ref))?.value, nested);
    });

    it("accepts unicode keys", async () => {
      const keys = ["ключ", "🔑 emoji key", "日本語/キー", "spaces and {braces} and %25", `${"a".repeat(128)}é`];
      for (const key of keys) {
        const ref = { tenant, namespace, key: `${key}-${n++}` };
        await store.put(ref, { key });
        assert.deepEqual((await store.get(ref))?.value, { key }, key);
      }
    });

    it("rejects invalid refs, values and options with `invalid` and writes nothing", async () => {
      const ok = fresh();
      const bad: [StateRef, unknown, object?][] = [
        [{ ...ok, key: "" }, 1],
        [{ ...ok, key: "k".repeat(513) }, 1],
        [{ ...ok, key: "é".repeat(257) }, 1],
        [{ ...ok, key: "nul\u0000byte" }, 1],
        [{ ...ok, key: "new\nline" }, 1],
        [{ ...ok, key: "lone \ud800 surrogate" }, 1],
        [{ ...ok, namespace: "Bad Namespace" }, 1],
        [{ ...ok, tenant: "" }, 1],
        [ok, undefined],
        [ok, () => 1],
        [ok, Number.NaN],
        [ok, { n: Number.POSITIVE_INFINITY }],
        [ok, { big: 10n }],
        [ok, new Date()],
        [ok, 1, { ttlSeconds: -1 }],
        [ok, 1, { ttlSeconds: 0 }],
        [ok, 1, { ttlSeconds: Number.NaN }],
        [ok, 1, { ifVersion: 0 }],
        [ok, 1, { ifVersion: 1.5 }],
      ];
      for (const [ref, value, options] of bad) {
        await rejectsWithCode(store.put(ref, value, options), "invalid");
      }
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      await assert.rejects(store.put(ok, cyclic));
      await rejectsWithCode(store.get({ ...ok, key: "" }), "invalid");
      await rejectsWithCode(store.delete({ ...ok, key: "" }), "invalid");
      assert.equal(await store.get(ok), undefined, "nothing was written");
    });

    it("expires records after their TTL in every read path", async (t) => {
      if (!has("ttl")) {
        await rejectsWithCode(store.put(fresh(), 1, { ttlSeconds: 1 }), "unsupported");
        return;
      }
      const ref = fresh("ttl");
      const rec = await store.put(ref, "short-lived", { ttlSeconds: 0.6 });
      assert.ok(rec.expiresAt && Math.abs(rec.expiresAt.getTime() - (rec.updatedAt.getTime() + 600)) < 50);
      assert.equal((await store.get(ref))?.value, "short-lived");
      await sleep(800);
      assert.equal(await store.get(ref), undefined, "expired records are never served");
      if (has("list")) {
        const page = await store.list(tenant, namespace, { prefix: "ttl-" });
        assert.ok(!page.items.some((i) => i.key === ref.key), "expired records are not listed");
      }
      await rejectsWithCode(store.put(ref, "x", { ifVersion: 1 }), "version_conflict");
      const again = await store.put(ref, "back", { createOnly: true });
      assert.equal(again.version, 2, "an expired key counts as absent but keeps its version count");
      assert.equal(again.expiresAt, null);
      t.diagnostic("ttl ok");
    });

    it("slides an idle TTL forward on touch, for exactly the version touched, and expires it when left alone", async () => {
      if (!has("ttl")) return;
      const ref = fresh("idle");
      // A 3 s window touched at 1.2 s: the touch has 1.8 s of margin before the first expiry and the
      // read after it a whole second before the slid one, so slow calls on a busy CI machine (seen:
      // over a second for one PostgreSQL round trip) cannot decide the outcome.
      const rec = await store.put(ref, "sliding", { idleTtlSeconds: 3 });
      assert.equal(rec.idleTtlSeconds, 3);
      assert.ok(rec.expiresAt && Math.abs(rec.expiresAt.getTime() - (rec.updatedAt.getTime() + 3000)) < 50);
      assert.equal((await store.get(ref))?.idleTtlSeconds, 3, "the idle TTL is kept with the record");
      await sleep(1200);
      assert.equal(await store.touch(ref, rec.version + 1), undefined, "another version is not touched");
      const moved = await store.touch(ref, rec.version);
      assert.ok(moved && moved.getTime() > rec.expiresAt!.getTime() + 1000, "a touch pushes the expiry forward");
      await sleep(2000);
      const alive = await store.get(ref);
      assert.equal(alive?.value, "sliding", "touched within its window, the record lives past its first expiry");
      assert.equal(alive?.version, rec.version, "a touch is not a change");
      await sleep(3200);
      assert.equal(await store.get(ref), undefined, "left alone past its idle window, it expires");
      assert.equal(await store.touch(ref, rec.version), undefined, "an expired record cannot be touched back to life");

      const absolute = fresh("abs");
      const a = await store.put(absolute, 1, { ttlSeconds: 5, idleTtlSeconds: 1 });
      assert.equal(a.idleTtlSeconds ?? null, null, "an absolute TTL wins over an idle one");
      assert.equal(await store.touch(absolute, a.version), undefined, "absolute expiries do not slide");
      await rejectsWithCode(store.put(fresh(), 1, { idleTtlSeconds: 0 }), "invalid");
    });

    it("lists keys by prefix, in pages, each key exactly once", async () => {
      if (!has("list")) {
        await rejectsWithCode(store.list(tenant, namespace), "unsupported");
        return;
      }
      const p = `list${randomBytes(2).toString("hex")}`;
      const wanted = new Set<string>();
      for (let i = 0; i < 23; i++) {
        const key = `${p}/a/${String(i).padStart(2, "0")}`;
        wanted.add(key);
        await store.put({ tenant, namespace, key }, i);
      }
      for (let i = 0; i < 4; i++) await store.put({ tenant, namespace, key: `${p}/b/${i}` }, i);
      await store.delete({ tenant, namespace, key: `${p}/a/05` });
      wanted.delete(`${p}/a/05`);

      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.list(tenant, namespace, { prefix: `${p}/a/`, limit: 10, cursor });
        assert.ok(page.items.length <= 10);
        for (const item of page.items) {
          assert.ok(item.version >= 1);
          assert.ok(item.updatedAt instanceof Date);
        }
        seen.push(...page.items.map((i) => i.key));
        cursor = page.nextCursor;
        pages++;
      } while (cursor && pages < 10);
      assert.equal(new Set(seen).size, seen.length, "no key appears twice");
      assert.deepEqual(new Set(seen), wanted);
      assert.equal(pages, 3);
      const b = await store.list(tenant, namespace, { prefix: `${p}/b/` });
      assert.equal(b.items.length, 4);
      assert.equal(b.nextCursor, undefined);
      await rejectsWithCode(store.list(tenant, namespace, { limit: 0 }), "invalid");
      await rejectsWithCode(store.list(tenant, namespace, { cursor: "not a cursor!" }), "invalid");
    });

    it("keeps every version in history, newest first", async () => {
      const ref = fresh("hist");
      if (!has("history")) {
        await rejectsWithCode(store.history(ref), "unsupported");
        await rejectsWithCode(store.getVersion(ref, 1), "unsupported");
        return;
      }
      await store.put(ref, { step: 1 }, { actor: "alice" });
      await store.put(ref, { step: 2 });
      await store.delete(ref, { actor: "bob" });
      await store.put(ref, { step: 4 });
      const h = await store.history(ref);
      assert.deepEqual(
        h.map((e) => e.version),
        [4, 3, 2, 1],
      );
      assert.deepEqual(
        h.map((e) => e.operation),
        ["put", "delete", "put", "put"],
      );
      assert.deepEqual(h[3]!.value, { step: 1 });
      assert.equal(h[3]!.actor, "alice");
      assert.equal(h[1]!.value, null);
      assert.equal(h[1]!.actor, "bob");
      assert.ok(h[0]!.at instanceof Date);
      assert.deepEqual(
        (await store.history(ref, { before: 3, limit: 1 })).map((e) => e.version),
        [2],
      );
      assert.deepEqual((await store.getVersion(ref, 2))?.value, { step: 2 });
      assert.equal(await store.getVersion(ref, 99), undefined);
    });

    it("a write with history: false changes the record and leaves no history entry", async () => {
      const ref = fresh("nohist");
      const first = await store.put(ref, { step: 1 });
      const second = await store.put(ref, { step: 2 }, { ifVersion: first.version, history: false });
      assert.equal(second.version, first.version + 1);
      assert.deepEqual((await store.get(ref, { consistency: "strong" }))?.value, { step: 2 });
      if (!has("history")) return;
      assert.deepEqual(
        (await store.history(ref)).map((e) => e.version),
        [first.version],
      );
      assert.equal(await store.getVersion(ref, second.version), undefined);
    });

    it("applies transactions all or nothing", async () => {
      const a = fresh("tx");
      const b = fresh("tx");
      if (!has("transactions")) {
        await rejectsWithCode(store.transact([{ op: "put", ref: a, value: 1 }]), "unsupported");
        return;
      }
      await store.put(a, "a0");
      const results = await store.transact([
        { op: "put", ref: a, value: "a1", options: { ifVersion: 1 } },
        { op: "put", ref: b, value: "b1", options: { createOnly: true } },
      ]);
      assert.equal(results.length, 2);
      assert.equal((await store.get(a))?.version, 2);
      assert.equal((await store.get(b))?.value, "b1");
      const conflict = await rejectsWithCode(
        store.transact([
          { op: "put", ref: a, value: "a2" },
          { op: "delete", ref: b, options: { ifVersion: 99 } },
        ]),
        "version_conflict",
      );
      assert.equal(conflict.details.operation, 1, "the error names the operation that failed");
      assert.equal(conflict.details.currentVersion, 1);
      assert.equal((await store.get(a))?.value, "a1", "the first operation was rolled back");
      assert.equal((await store.get(a))?.version, 2);
      assert.equal((await store.get(b))?.value, "b1");
    });

    it("as a cache, keeps the newest version it was given", async () => {
      const ref = fresh("cache");
      const base = {
        namespace,
        key: ref.key,
        schemaVersion: 1,
        createdAt: new Date(),
        updatedAt: new Date(),
        expiresAt: null,
        sizeBytes: 3,
      };
      if (!has("cache")) {
        await rejectsWithCode(store.setIfNewer(tenant, { ...base, value: 1, version: 1 }), "unsupported");
        return;
      }
      assert.equal(await store.setIfNewer(tenant, { ...base, value: "v5", version: 5 }), true);
      assert.equal(
        await store.setIfNewer(tenant, { ...base, value: "v4", version: 4 }),
        false,
        "an older copy never overwrites a newer one",
      );
      assert.equal((await store.get(ref))?.value, "v5");
      assert.equal(await store.setIfNewer(tenant, { namespace, key: ref.key, version: 6, deleted: true }), true);
      assert.equal(await store.get(ref), undefined, "a newer tombstone hides the key");
      assert.equal(
        await store.setIfNewer(tenant, { ...base, value: "v5", version: 5 }),
        false,
        "a stale copy cannot resurrect a deleted key",
      );
    });

    it("imports a record with its version and history", async () => {
      const ref = fresh("imp");
      const record = {
        namespace,
        key: ref.key,
        value: { restored: true },
        version: 7,
        schemaVersion: 1,
        createdAt: new Date(Date.now() - 60_000),
        updatedAt: new Date(),
        expiresAt: null,
        sizeBytes: 17,
      };
      if (!has("import")) {
        await rejectsWithCode(store.importRecord(tenant, record), "unsupported");
        return;
      }
      const history = [6, 7].map((version) => ({
        version,
        operation: "put" as const,
        actor: null,
        value: { v: version },
        schemaVersion: 1,
        sizeBytes: 7,
        at: new Date(),
      }));
      assert.equal(await store.importRecord(tenant, record, history), true);
      const got = await store.get(ref);
      assert.equal(got?.version, 7);
      assert.deepEqual(got?.value, { restored: true });
      assert.equal(
        await store.importRecord(tenant, { ...record, version: 6 }),
        false,
        "an older import never overwrites",
      );
      const next = await store.put(ref, "after", { ifVersion: 7 });
      assert.equal(next.version, 8);
      if (has("history")) assert.deepEqual((await store.getVersion(ref, 6))?.value, { v: 6 });
    });

    const { writers, increments } = init.concurrency ?? { writers: 8, increments: 250 };
    const total = writers * increments;
    it(`${writers} concurrent writers x ${increments} compare-and-set increments end at exactly ${total}`, {
      timeout: 120_000,
    }, async () => {
      const ref = fresh("counter");
      await store.put(ref, { count: 0 });
      let conflicts = 0;
      const writer = async () => {
        for (let i = 0; i < increments; i++) {
          for (;;) {
            const cur = (await store.get(ref, { consistency: "strong" }))!;
            try {
              await store.put(ref, { count: (cur.value as { count: number }).count + 1 }, { ifVersion: cur.version });
              break;
            } catch (err) {
              if ((err as StateError).code !== "version_conflict") throw err;
              conflicts++;
            }
          }
        }
      };
      await Promise.all(Array.from({ length: writers }, writer));
      const final = await store.get(ref, { consistency: "strong" });
      assert.deepEqual(final?.value, { count: total });
      assert.equal(final?.version, total + 1);
      const cached = await store.get(ref);
      assert.deepEqual(cached?.value, { count: total }, "the default read path serves the final value too");
      assert.ok(conflicts >= 0);
    });
  });
}
