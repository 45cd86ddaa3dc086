import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import { ArchiveStore } from "../../server/state/archive";
import type { HistoryEntry, StateRecord } from "../../server/state/store";
import { archiveBackends, type OpenArchive } from "../helpers/archives";
import { uniqueName } from "../helpers/services";

const DAY = 24 * 3600_000;
const tenant = "acme";
const namespace = "workflows";

function recordAt(key: string, version: number, value: unknown): StateRecord {
  return {
    namespace,
    key,
    value,
    version,
    schemaVersion: 1,
    createdAt: new Date(Date.UTC(2026, 0, 1)),
    updatedAt: new Date(),
    expiresAt: null,
    sizeBytes: JSON.stringify(value).length,
  };
}

function historyOf(...versions: number[]): HistoryEntry[] {
  return versions.map((version) => ({
    version,
    operation: "put",
    actor: `w${version}`,
    value: { v: version },
    schemaVersion: 1,
    sizeBytes: 7,
    at: new Date(Date.UTC(2026, 0, 1) + version * 1000),
  }));
}

for (const backend of archiveBackends) {
  describe(`archive layout: partitions by tenant/namespace/day (${backend.name})`, () => {
    let open: OpenArchive;
    let today = new Date(Date.UTC(2026, 0, 5, 23, 59));
    const archive = () => open.archive;
    const encoded = (key: string) => Buffer.from(key, "utf8").toString("base64url");

    before(async () => {
      open = await backend.open({ now: () => today });
    });
    after(async () => {
      await open.stop();
    });

    it("keeps a key's record and history under the day it was archived, and a pointer per key", async () => {
      const key = uniqueName("run");
      today = new Date(Date.UTC(2026, 0, 5, 23, 59));
      assert.equal(await archive().importRecord(tenant, recordAt(key, 2, { v: 2 }), historyOf(1, 2)), true);
      const paths = await archive().blobs.list(`${tenant}/${namespace}/`);
      const object = `${tenant}/${namespace}/2026/01/05/${encoded(key)}.json.gz`;
      assert.ok(paths.includes(object), `object at ${object}, found ${paths.join(", ")}`);
      assert.ok(paths.includes(`${tenant}/${namespace}/_keys/${encoded(key)}.json`));
      const stored = JSON.parse(gunzipSync((await archive().blobs.get(object))!).toString("utf8"));
      assert.equal(stored.version, 2);
      assert.deepEqual(
        stored.history.map((h: HistoryEntry) => h.version),
        [1, 2],
        "the object is gzipped JSON with the history",
      );
    });

    it("moves a key re-archived on a later day to that day's partition, keeping all its history", async () => {
      const key = uniqueName("run");
      today = new Date(Date.UTC(2026, 0, 5, 12));
      await archive().importRecord(tenant, recordAt(key, 2, { v: 2 }), historyOf(1, 2));
      today = new Date(today.getTime() + 2 * DAY);
      assert.equal(await archive().importRecord(tenant, recordAt(key, 4, { v: 4 }), historyOf(3, 4)), true);
      const mine = (await archive().blobs.list(`${tenant}/${namespace}/`)).filter((p) => p.includes(encoded(key)));
      assert.deepEqual(
        mine.sort(),
        [
          `${tenant}/${namespace}/2026/01/07/${encoded(key)}.json.gz`,
          `${tenant}/${namespace}/_keys/${encoded(key)}.json`,
        ],
        "the old day's object is gone",
      );
      const ref = { tenant, namespace, key };
      assert.equal((await archive().get(ref))?.version, 4);
      assert.deepEqual(
        (await archive().history(ref)).map((h) => h.version),
        [4, 3, 2, 1],
      );
      assert.deepEqual((await archive().getVersion(ref, 1))?.actor, "w1");
      const listed = await archive().list(tenant, namespace, { prefix: key });
      assert.deepEqual(
        listed.items.map((i) => [i.key, i.version]),
        [[key, 4]],
      );
    });

    it("expires the keys last archived before a day, and keeps those archived since", async () => {
      const ns = `exp${uniqueName("").slice(1, 12).replaceAll("_", "")}`;
      const old = { tenant, namespace: ns, key: "old" };
      const moved = { tenant, namespace: ns, key: "moved" };
      const fresh = { tenant, namespace: ns, key: "fresh" };
      today = new Date(Date.UTC(2026, 0, 10));
      await archive().importRecord(tenant, { ...recordAt("old", 1, "o"), namespace: ns });
      await archive().importRecord(tenant, { ...recordAt("moved", 1, "m1"), namespace: ns }, [
        { ...historyOf(1)[0]!, value: "m1" },
      ]);
      today = new Date(Date.UTC(2026, 0, 20));
      await archive().importRecord(tenant, { ...recordAt("moved", 2, "m2"), namespace: ns }, [
        { ...historyOf(2)[0]!, value: "m2" },
      ]);
      await archive().importRecord(tenant, { ...recordAt("fresh", 1, "f"), namespace: ns });

      assert.equal(await archive().expireBefore(tenant, ns, new Date(Date.UTC(2026, 0, 15))), 1);
      assert.equal(await archive().get(old), undefined);
      assert.deepEqual(await archive().history(old), []);
      assert.deepEqual(
        (await archive().list(tenant, ns)).items.map((i) => i.key),
        ["fresh", "moved"],
      );
      assert.deepEqual(
        (await archive().history(moved)).map((h) => h.value),
        ["m2", "m1"],
      );
      assert.equal((await archive().get(fresh))?.value, "f");
      const left = await archive().blobs.list(`${tenant}/${ns}/`);
      assert.ok(
        !left.some((p) => p.includes("/2026/01/10/")),
        `nothing is left in the expired day: ${left.join(", ")}`,
      );
      assert.equal(
        await archive().expireBefore(tenant, ns, new Date(Date.UTC(2026, 0, 15))),
        0,
        "a second run finds nothing",
      );
    });

    it("reads as absent a key whose day was deleted by hand, and keeps counting its versions", async () => {
      const key = uniqueName("run");
      const ref = { tenant, namespace, key };
      today = new Date(Date.UTC(2026, 1, 1));
      await archive().importRecord(tenant, recordAt(key, 3, "x"), historyOf(1, 2, 3));
      await archive().blobs.delete(`${tenant}/${namespace}/2026/02/01/${encoded(key)}.json.gz`); // an operator removed the day
      assert.equal(await archive().get(ref), undefined);
      assert.deepEqual(await archive().history(ref), []);
      const next = await archive().put(ref, "again");
      assert.equal(next.version, 4, "the pointer still knows the last version");
    });

    it("lists and reads keys too long for an object name (stored under a hash)", async () => {
      const prefix = `long-${uniqueName("k")}-`;
      const keys = [`${prefix}${"é".repeat(200)}a`, `${prefix}${"é".repeat(200)}b`, `${prefix}short`];
      for (const [i, key] of keys.entries()) await archive().put({ tenant, namespace, key }, i);
      const page1 = await archive().list(tenant, namespace, { prefix, limit: 2 });
      const page2 = await archive().list(tenant, namespace, { prefix, limit: 2, cursor: page1.nextCursor });
      assert.deepEqual(
        [...page1.items, ...page2.items].map((i) => i.key),
        [...keys].sort(),
      );
      assert.equal((await archive().get({ tenant, namespace, key: keys[1]! }))?.value, 1);
      const names = await archive().blobs.list(`${tenant}/${namespace}/_keys/`);
      assert.ok(
        names.some((n) => /\/h-[0-9a-f]{64}\.json$/.test(n)),
        "long keys are named by their hash",
      );
    });

    if (backend.name.startsWith("S3")) {
      it("keeps objects under ARCHIVE_S3_PREFIX, and fails loudly (never reads as empty) on a missing bucket", async () => {
        const s3 = open.s3!;
        const prefixed = ArchiveStore.onS3({ ...s3.options, prefix: "team-a/archive" });
        const plain = ArchiveStore.onS3(s3.options);
        const missing = ArchiveStore.onS3({ ...s3.options, bucket: s3.missingBucket });
        try {
          const ref = { tenant: "prefixed", namespace, key: "k" };
          await prefixed.put(ref, "v");
          assert.equal((await prefixed.get(ref))?.value, "v");
          assert.equal(
            (await plain.blobs.list("team-a/archive/prefixed/")).length,
            2,
            "record object and pointer under the prefix",
          );
          assert.deepEqual(await plain.blobs.list("prefixed/"), []);
          await assert.rejects(missing.ping());
          await assert.rejects(missing.get(ref), "a missing bucket is an error, not a miss");
        } finally {
          await Promise.all([prefixed.close(), plain.close(), missing.close()]);
        }
      });
    }
  });
}
