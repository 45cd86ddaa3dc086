// What LangGraph's suite does not cover: the saver's own storage choices on the real engine — the head
// kept in the hot tier only (lost → rebuilt from stored checkpoints), two processes sharing a thread,
// and values stored once (no version history, large values compressed).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { emptyCheckpoint, uuid6 } from "@langchain/langgraph-checkpoint";
import pg from "pg";
import { loadConfig } from "../../server/config";
import { buildServices, type Services } from "../../server/container";
import { StatehouseSaver } from "../../server/langgraph/checkpointer";
import { StateError } from "../../server/state/errors";
import { createTestDatabase, createTestRedis, type TestDatabase } from "../helpers/services";

describe("StatehouseSaver on Redis + PostgreSQL", () => {
  const redis = createTestRedis();
  let db: TestDatabase;
  let services: Services;
  before(async () => {
    db = await createTestDatabase();
    services = await buildServices(
      loadConfig({
        DATABASE_URL: db.url,
        REDIS_URL: redis.url,
        STATEHOUSE_KEY_PREFIX: redis.prefix.slice(0, 32),
        STATEHOUSE_ADMIN_TOKEN: "test-admin-0123456789abcdef",
        STATEHOUSE_DATA_DIR: `/tmp/${redis.prefix.slice(0, -1)}`,
        STATEHOUSE_OUTBOX_RELAY: "off",
      }),
    );
  });
  after(async () => {
    await services.close();
    await db.drop();
    await redis.cleanup();
  });

  const checkpoint = (messages: string[]) => ({
    ...emptyCheckpoint(),
    id: uuid6(0),
    channel_values: { messages },
    channel_versions: { messages: messages.length },
  });
  const meta = (step: number) => ({ source: "loop" as const, step, parents: {} });

  it("two savers (two processes) on one thread agree on the latest checkpoint and its writes", async () => {
    const a = new StatehouseSaver({ state: services.state, tenant: "t1" });
    const b = new StatehouseSaver({ state: services.state, tenant: "t1" });
    const c1 = await a.put({ configurable: { thread_id: "shared" } }, checkpoint(["hi"]), meta(0), { messages: 1 });
    assert.equal(
      (await b.getTuple({ configurable: { thread_id: "shared" } }))?.config.configurable?.checkpoint_id,
      c1.configurable?.checkpoint_id,
    );
    const c2 = await b.put(c1, checkpoint(["hi", "there"]), meta(1), { messages: 2 });
    await b.putWrites(c2, [["messages", ["!"]]], "task-1");
    // `a` last saw c1 as the newest: it must notice b's checkpoint and its writes.
    const latest = await a.getTuple({ configurable: { thread_id: "shared" } });
    assert.equal(latest?.config.configurable?.checkpoint_id, c2.configurable?.checkpoint_id);
    assert.deepEqual(latest?.checkpoint.channel_values, { messages: ["hi", "there"] });
    assert.deepEqual(latest?.pendingWrites, [["task-1", "messages", ["!"]]]);
    // An older checkpoint put late never moves the head backwards.
    const old = { ...checkpoint(["late"]), id: "00000000-0000-6000-8000-000000000000" };
    await a.put(c1, old, meta(5), { messages: 9 });
    assert.equal(
      (await b.getTuple({ configurable: { thread_id: "shared" } }))?.config.configurable?.checkpoint_id,
      c2.configurable?.checkpoint_id,
    );
  });

  it("the head lost from Redis is rebuilt from the stored checkpoints", async () => {
    const saver = new StatehouseSaver({ state: services.state, tenant: "t2" });
    let config = { configurable: { thread_id: "lost", checkpoint_ns: "" } } as Parameters<StatehouseSaver["put"]>[0];
    for (let step = 1; step <= 3; step++)
      config = await saver.put(config, checkpoint(Array.from({ length: step }, (_, i) => String(i))), meta(step), {
        messages: step,
      });
    await saver.putWrites(config, [["messages", ["w"]]], "task");
    await redis.cleanup(); // every hot key: heads and cached checkpoints
    const fresh = new StatehouseSaver({ state: services.state, tenant: "t2" }); // no in-process memory either
    const latest = await fresh.getTuple({ configurable: { thread_id: "lost" } });
    assert.equal(latest?.config.configurable?.checkpoint_id, config.configurable?.checkpoint_id);
    assert.deepEqual(latest?.checkpoint.channel_values, { messages: ["0", "1", "2"] });
    assert.deepEqual(latest?.pendingWrites, [["task", "messages", ["w"]]]);
  });

  it("the head is rebuilt from the stored checkpoints while the hot tier cannot answer", async () => {
    const saver = new StatehouseSaver({ state: services.state, tenant: "t4" });
    let config = { configurable: { thread_id: "hot-down", checkpoint_ns: "" } } as Parameters<
      StatehouseSaver["put"]
    >[0];
    for (let step = 1; step <= 2; step++)
      config = await saver.put(config, checkpoint(Array.from({ length: step }, (_, i) => String(i))), meta(step), {
        messages: step,
      });
    // The heads live in the hot tier only: every call on them answers `unavailable`, as with its circuit open.
    const unavailable = () => Promise.reject(new StateError("unavailable", "redis is unavailable (circuit open)"));
    const onHeads = (ref: { namespace: string }) => ref.namespace === "checkpoint-heads";
    const hotDown = new Proxy(services.state, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (prop !== "readStored" && prop !== "put") return typeof value === "function" ? value.bind(target) : value;
        return (ref: { namespace: string }, ...rest: unknown[]) =>
          onHeads(ref) ? unavailable() : (value as (...a: unknown[]) => unknown).call(target, ref, ...rest);
      },
    });
    const fresh = new StatehouseSaver({ state: hotDown, tenant: "t4" });
    const latest = await fresh.getTuple({ configurable: { thread_id: "hot-down" } });
    assert.equal(latest?.config.configurable?.checkpoint_id, config.configurable?.checkpoint_id);
    assert.deepEqual(latest?.checkpoint.channel_values, { messages: ["0", "1"] });
  });

  it("stores each checkpoint once (no history rows) and compresses large values", async () => {
    const saver = new StatehouseSaver({ state: services.state, tenant: "t3" });
    const big = Array.from({ length: 500 }, (_, i) => `message ${i} about the order and its refund`);
    const config = await saver.put({ configurable: { thread_id: "big" } }, checkpoint(big), meta(0), { messages: 1 });
    assert.deepEqual((await saver.getTuple(config))?.checkpoint.channel_values, { messages: big });
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const rows = await client.query(
        "SELECT key, size_bytes FROM state_records WHERE tenant = 't3' AND namespace = 'checkpoints'",
      );
      const history = await client.query(
        "SELECT count(*)::int AS n FROM state_history WHERE tenant = 't3' AND namespace = 'checkpoints'",
      );
      assert.equal(history.rows[0].n, 0);
      const stored = rows.rows.find((r) => r.key.startsWith("c:"))!;
      assert.ok(
        stored.size_bytes < JSON.stringify(big).length / 2,
        `stored ${stored.size_bytes} bytes for ${JSON.stringify(big).length} of messages`,
      );
    } finally {
      await client.end();
    }
  });
});
