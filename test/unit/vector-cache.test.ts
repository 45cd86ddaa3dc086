// UserVectorCache over a real warm tier (PGlite): a user's vectors are read out of their memories once
// and served from the cache while nothing changed; any write, delete or expiry of the user's memories
// (the stamp) makes the next use read them again, vectors of another model are embedded once, and the
// cache stays within its byte budget.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { openWarmDatabase, type WarmDatabase } from "../../server/db/warm-database";
import { encodeVector, OfflineEmbedder } from "../../server/memories/embedder";
import { MemoryRepository } from "../../server/memories/memory-repository";
import { UserVectorCache } from "../../server/memories/vector-cache";
import { PostgresStore } from "../../server/state/postgres";

describe("a user's vectors between searches", () => {
  let dir: string;
  let db: WarmDatabase;
  let store: PostgresStore;
  let repository: MemoryRepository;
  const embedder = new OfflineEmbedder();
  const reads = { vectors: 0, embedded: 0 };
  const counting = () => ({
    vectorStamp: (t: string, u: string) => repository.vectorStamp(t, u),
    versions: (...a: Parameters<MemoryRepository["versions"]>) => repository.versions(...a),
    vectors: async (...a: Parameters<MemoryRepository["vectors"]>) => {
      const rows = await repository.vectors(...a);
      reads.vectors += rows.length; // vectors read out of the database
      return rows;
    },
  });
  const countingEmbedder = {
    model: embedder.model,
    embed: async (texts: readonly string[]) => {
      reads.embedded += texts.length;
      return embedder.embed(texts);
    },
  };
  const remember = async (key: string, text: string, options: { model?: string; ttlSeconds?: number } = {}) => {
    const [vector] = await embedder.embed([text]);
    const embedding = { model: options.model ?? embedder.model, vector: encodeVector(vector!) };
    const value = { userId: "ada", agent: null, text, kind: "fact", embedding };
    return store.put({ tenant: "t", namespace: "memories", key }, value, { ttlSeconds: options.ttlSeconds });
  };

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "sh-vectors-"));
    db = await openWarmDatabase({ pgliteDir: dir });
    store = PostgresStore.on(db);
    repository = new MemoryRepository(db.prisma);
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("reads each vector once while it does not change: after a write only the new one, after a delete or expiry none", async () => {
    const cache = new UserVectorCache(counting(), countingEmbedder);
    await remember("mem_a", "Ada is vegetarian.");
    await remember("mem_b", "Ada plays chess.");
    const keys = async () => (await cache.of("t", "ada", 100)).map((v) => v.key).sort();
    assert.deepEqual(await keys(), ["mem_a", "mem_b"]);
    assert.deepEqual(await keys(), ["mem_a", "mem_b"]);
    assert.equal(reads.vectors, 2, "the second use is served from the cache");

    await remember("mem_c", "Ada lives in Lisbon.");
    assert.deepEqual(await keys(), ["mem_a", "mem_b", "mem_c"]);
    assert.equal(reads.vectors, 3, "only the new memory's vector is read");
    const before = (await cache.of("t", "ada", 100)).find((v) => v.key === "mem_a")!.vector;
    await remember("mem_a", "Ada eats fish now.");
    const changed = (await cache.of("t", "ada", 100)).find((v) => v.key === "mem_a")!.vector;
    assert.notDeepEqual(changed, before, "a new version's vector, not the cached one");
    await store.delete({ tenant: "t", namespace: "memories", key: "mem_b" });
    assert.deepEqual(await keys(), ["mem_a", "mem_c"]);
    await remember("mem_d", "Ada visits Porto.", { ttlSeconds: 0.3 });
    assert.deepEqual(await keys(), ["mem_a", "mem_c", "mem_d"]);
    await new Promise((r) => setTimeout(r, 400));
    assert.deepEqual(await keys(), ["mem_a", "mem_c"], "an expired memory leaves the cache");
    assert.equal(reads.vectors, 5, "a, b, c, then a's new version and d; deletes and expiries read none");
  });

  it("does not take an erased and re-created memory (version 1 again) for the one it held", async () => {
    const cache = new UserVectorCache(counting(), countingEmbedder);
    await remember("mem_e", "Ada's email is ada@old.example.");
    const old = (await cache.of("t", "ada", 100)).find((v) => v.key === "mem_e")!.vector;
    await store.erase({ tenant: "t", namespace: "memories", key: "mem_e" });
    await new Promise((r) => setTimeout(r, 5));
    assert.equal((await remember("mem_e", "Ada's email is ada@new.example.")).version, 1);
    const now = (await cache.of("t", "ada", 100)).find((v) => v.key === "mem_e")!.vector;
    assert.notDeepEqual(now, old);
    cache.forget("t", "ada");
    const before = reads.vectors;
    await cache.of("t", "ada", 100);
    assert.ok(reads.vectors > before, "after forget() nothing of the user is held");
  });

  it("embeds a vector of another model again once, not on every use", async () => {
    const cache = new UserVectorCache(counting(), countingEmbedder);
    await remember("mem_old", "Ada likes tea.", { model: "an-older-model" });
    reads.embedded = 0;
    const first = (await cache.of("t", "ada", 100)).find((v) => v.key === "mem_old")!;
    assert.deepEqual(first.vector, (await embedder.embed(["Ada likes tea."]))[0]);
    await cache.of("t", "ada", 100);
    assert.equal(reads.embedded, 1);
  });

  it("keeps within its byte budget, least recently used first", async () => {
    const cache = new UserVectorCache(counting(), countingEmbedder, 1); // nothing fits
    const before = reads.vectors;
    const n = (await cache.of("t", "ada", 100)).length;
    await cache.of("t", "ada", 100);
    assert.equal(reads.vectors, before + 2 * n, "too large to keep: read whole each time, never held");
  });
});
