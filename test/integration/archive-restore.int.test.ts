import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { openWarmDatabase, type WarmDatabase } from "../../server/db/warm-database";
import type { ArchiveStore } from "../../server/state/archive";
import { demoteToCold } from "../../server/state/demote";
import { guarded } from "../../server/state/guarded";
import { PostgresStore } from "../../server/state/postgres";
import { RedisStore } from "../../server/state/redis";
import type { StateRef } from "../../server/state/store";
import { TieredStore } from "../../server/state/tiered";
import { archiveBackends } from "../helpers/archives";
import { createTestDatabase, createTestRedis, type TestDatabase, uniqueName } from "../helpers/services";

for (const backend of archiveBackends) {
  describe(`archive and restore through the tiered store (Redis + PostgreSQL + ${backend.name} archive)`, () => {
    let db: TestDatabase;
    const redis = createTestRedis();
    let warmDb: WarmDatabase;
    let warm: PostgresStore;
    let hot: RedisStore;
    let archive: ArchiveStore;
    let tiered: TieredStore;
    let stopArchive: () => Promise<void>;
    const tenant = "acme";
    const namespace = "workflows";
    const ref = (key: string): StateRef => ({ tenant, namespace, key });

    before(async () => {
      db = await createTestDatabase();
      warmDb = await openWarmDatabase({ url: db.url });
      warm = PostgresStore.on(warmDb);
      hot = await RedisStore.fromUrl(redis.url, { keyPrefix: redis.prefix });
      ({ archive, stop: stopArchive } = await backend.open());
      tiered = new TieredStore({
        hot: guarded(hot),
        warm: guarded(warm),
        cold: guarded(archive),
        durabilityOf: () => "durable",
      });
    });
    after(async () => {
      await tiered.close();
      await Promise.all([db.drop(), redis.cleanup(), stopArchive()]);
    });

    it("moves a record with its history to the archive and restores it with the same value, version and history", async () => {
      const r = ref(uniqueName("run"));
      await tiered.put(r, { step: 1, log: ["started"] }, { actor: "scheduler" });
      await tiered.put(r, { step: 2, log: ["started", "fetched"] }, { actor: "worker-1" });
      await tiered.delete(r, { actor: "operator" });
      await tiered.put(r, { step: 3, log: ["restarted"] }, { actor: "worker-2", schemaVersion: 2 });
      const last = await tiered.put(
        r,
        { step: 4, log: ["restarted", "done"], result: { ok: true, score: 0.93 } },
        { actor: "worker-2", schemaVersion: 2 },
      );
      assert.equal(last.version, 5);
      assert.equal((await tiered.get(r))?.tier, "hot", "cached in hot before the move");
      const historyBefore = await tiered.history(r);
      assert.equal(historyBefore.length, 5);

      const moved = await demoteToCold(tiered, r);
      assert.deepEqual(moved, { outcome: "archived", version: 5, hotDropped: true });

      // Gone from warm (value and history: a slim archived row keeps the version) and from hot; held by the archive.
      assert.equal(await warm.get(r), undefined);
      assert.deepEqual(await warm.history(r), []);
      const [row] = await warmDb.prisma.$queryRawUnsafe<
        { archived: boolean; deleted: boolean; version: number; value: unknown; size_bytes: number }[]
      >(
        "SELECT archived, deleted, version, value, size_bytes FROM state_records WHERE tenant = $1 AND namespace = $2 AND key = $3",
        tenant,
        namespace,
        r.key,
      );
      assert.deepEqual(row, { archived: true, deleted: false, version: 5, value: null, size_bytes: 0 });
      assert.equal(await warm.dropArchived(r, 5), false, "nothing left in warm to drop");
      assert.equal(await hot.get(r), undefined);
      assert.equal((await archive.get(r))?.version, 5);

      const restored = await tiered.get(r);
      assert.equal(restored?.tier, "cold", "the first read restores from the archive");
      assert.deepEqual(restored?.value, last.value);
      assert.equal(restored?.version, 5);
      assert.equal(restored?.schemaVersion, 2);
      assert.equal(restored?.createdAt.getTime(), last.createdAt.getTime());
      assert.equal(restored?.updatedAt.getTime(), last.updatedAt.getTime());

      const again = await tiered.get(r);
      assert.ok(
        again?.tier === "warm" || again?.tier === "hot",
        `then it is served from warm or hot, not ${again?.tier}`,
      );
      assert.equal(again?.version, 5);
      assert.deepEqual(await warm.get(r).then((w) => w?.version), 5, "restored into warm, the source of truth");

      const historyAfter = await tiered.history(r);
      assert.deepEqual(historyAfter, historyBefore, "every version, actor, operation, value and time is kept");
      assert.deepEqual(
        (await warm.history(r)).map((h) => h.version),
        [5, 4, 3, 2, 1],
        "history is back in warm, not only in cold",
      );
      assert.deepEqual((await tiered.getVersion(r, 2))?.value, { step: 2, log: ["started", "fetched"] });

      const next = await tiered.put(r, { step: 5 }, { ifVersion: 5 });
      assert.equal(next.version, 6, "the version count continues after a restore");
      assert.deepEqual((await tiered.get(r))?.value, { step: 5 });
    });

    it("re-archives a restored and changed record with its whole history, and restores it again", async () => {
      const r = ref(uniqueName("run"));
      for (let i = 1; i <= 3; i++) await tiered.put(r, { i });
      assert.equal((await demoteToCold(tiered, r)).outcome, "archived");
      assert.equal((await tiered.get(r))?.tier, "cold");
      await tiered.put(r, { i: 4 }, { ifVersion: 3 });
      assert.deepEqual(await demoteToCold(tiered, r), { outcome: "archived", version: 4, hotDropped: true });
      assert.deepEqual(
        (await archive.history(r)).map((h) => h.value),
        [{ i: 4 }, { i: 3 }, { i: 2 }, { i: 1 }],
      );
      const restored = await tiered.get(r);
      assert.equal(restored?.tier, "cold");
      assert.equal(restored?.version, 4);
      assert.deepEqual(
        (await tiered.history(r)).map((h) => h.version),
        [4, 3, 2, 1],
      );
    });

    it("continues the version count for a write after the move, before any read", async () => {
      const r = ref(uniqueName("run"));
      for (let i = 1; i <= 3; i++) await tiered.put(r, { i });
      assert.equal((await demoteToCold(tiered, r)).outcome, "archived");
      const written = await tiered.put(r, { i: "new" });
      assert.equal(written.version, 4, "never version 1 again while the archive remembers 1..3");
      const read = await tiered.get(r);
      assert.equal(read?.version, 4);
      assert.deepEqual(read?.value, { i: "new" });
    });

    it("checks a write or delete conditioned on the archived version against the archived record", async () => {
      const r = ref(uniqueName("run"));
      for (let i = 1; i <= 3; i++) await tiered.put(r, { i });
      assert.equal((await demoteToCold(tiered, r)).outcome, "archived");
      await assert.rejects(
        tiered.put(r, "stale", { ifVersion: 2 }),
        (err: { code?: string; current?: number }) => err.code === "version_conflict" && err.current === 3,
      );
      const written = await tiered.put(r, { i: 4 }, { ifVersion: 3 });
      assert.equal(written.version, 4);
      assert.deepEqual(
        (await tiered.history(r)).map((h) => h.version),
        [4, 3, 2, 1],
        "restored with its history before the write",
      );

      assert.equal((await demoteToCold(tiered, r)).outcome, "archived");
      assert.deepEqual(await tiered.delete(r, { ifVersion: 4 }), { deleted: true, version: 5 });
      assert.equal(await tiered.get(r), undefined, "deleted, and not brought back from the archive");

      const plain = ref(uniqueName("run"));
      await tiered.put(plain, 1);
      assert.equal((await demoteToCold(tiered, plain)).outcome, "archived");
      assert.deepEqual(
        await tiered.delete(plain),
        { deleted: true, version: 2 },
        "an unconditional delete of an archived record deletes it",
      );
      assert.equal(await tiered.get(plain), undefined);
    });

    it("leaves a record that changed during the move in warm", async () => {
      const r = ref(uniqueName("run"));
      const first = await tiered.put(r, { n: 1 });
      await tiered.put(r, { n: 2 }, { ifVersion: 1 });
      // The mover read version 1; version 2 was written before it removed the record from warm.
      assert.deepEqual(await demoteToCold(tiered, r, first), { outcome: "changed", version: 1 });
      const current = await tiered.get(r);
      assert.equal(current?.version, 2);
      assert.deepEqual(current?.value, { n: 2 });
      assert.equal((await warm.history(r)).length, 2, "warm keeps its history");
    });

    it("finishes a move that stopped after the copy (a crash), and reports nothing to move for an absent key", async () => {
      const r = ref(uniqueName("run"));
      await tiered.put(r, { n: 1 });
      const rec = await tiered.put(r, { n: 2 });
      await archive.importRecord(tenant, rec, await warm.history(r)); // the copy happened, warm was never cleared
      assert.deepEqual(await demoteToCold(tiered, r), { outcome: "archived", version: 2, hotDropped: true });
      assert.equal((await tiered.get(r))?.tier, "cold");
      assert.deepEqual(await demoteToCold(tiered, ref(uniqueName("never"))), { outcome: "absent" });
    });

    it("does not drop a record whose key the archive knows from an earlier life at a newer version", async () => {
      const r = ref(uniqueName("run"));
      const earlier = {
        namespace,
        key: r.key,
        value: { life: 1 },
        version: 9,
        schemaVersion: 1,
        createdAt: new Date(Date.now() - 3_600_000),
        updatedAt: new Date(Date.now() - 60_000),
        expiresAt: null,
        sizeBytes: 10,
      };
      await archive.importRecord(tenant, earlier, []);
      await warm.put(r, { life: 2 }); // version 1 in warm: the key started again
      assert.deepEqual(await demoteToCold(tiered, r), { outcome: "conflict", version: 1 });
      assert.deepEqual((await warm.get(r))?.value, { life: 2 }, "warm keeps it");
    });
  });
}
