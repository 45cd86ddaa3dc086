// Counts what reaches the real services: a hot hit is 1 Redis command and no SQL; a durable write is
// 1 SQL round trip and 1 Redis command (design: Tiers, "Paths, at their minimum cost").
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import pg from "pg";
import { PostgresStore } from "../../server/state/postgres";
import { RedisStore } from "../../server/state/redis";
import { TieredStore } from "../../server/state/tiered";
import { openWarmDatabase } from "../../server/db/warm-database";
import { createTestDatabase, createTestRedis, type TestDatabase } from "../helpers/services";

describe("round trips on the real services", () => {
  const redis = createTestRedis();
  let db: TestDatabase;
  let store: TieredStore;
  let redisClient: Redis;
  let pool: pg.Pool;
  const counts = { redis: [] as string[], sql: [] as string[] };
  const reset = () => {
    counts.redis.length = 0;
    counts.sql.length = 0;
  };

  before(async () => {
    db = await createTestDatabase();
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
    // Every statement any pooled connection sends, whoever sends it (Prisma's adapter uses these clients).
    pool.on("connect", (client) => {
      const query = client.query.bind(client) as (...a: unknown[]) => unknown;
      (client as unknown as { query: unknown }).query = (...args: unknown[]) => {
        const first = args[0] as string | { text: string };
        counts.sql.push(typeof first === "string" ? first : first.text);
        return query(...args);
      };
    });
    const warmDb = await openWarmDatabase({ url: db.url }, { pool });
    redisClient = new Redis(redis.url);
    const send = redisClient.sendCommand.bind(redisClient);
    redisClient.sendCommand = ((command: { name: string }) => {
      counts.redis.push(command.name);
      return send(command as never);
    }) as typeof redisClient.sendCommand;
    store = new TieredStore({
      hot: new RedisStore(redisClient, { keyPrefix: redis.prefix }),
      warm: new PostgresStore(warmDb.prisma, "postgres", warmDb.close),
      durabilityOf: () => "durable",
    });
    // Warm up both paths (Lua scripts loaded, pool connected, Prisma initialised).
    await store.put({ tenant: "t", namespace: "kv", key: "warmup" }, 1);
    await store.get({ tenant: "t", namespace: "kv", key: "warmup" });
  });

  after(async () => {
    await store.close();
    redisClient.disconnect();
    await db.drop();
    await redis.cleanup();
  });

  it("a durable write costs 1 SQL round trip and 1 Redis command", async () => {
    reset();
    const rec = await store.put({ tenant: "t", namespace: "kv", key: "w1" }, { a: 1 });
    assert.equal(rec.version, 1);
    assert.equal(counts.sql.length, 1, `SQL sent: ${JSON.stringify(counts.sql)}`);
    assert.match(counts.sql[0]!, /INSERT INTO state_records[\s\S]*state_history[\s\S]*outbox_events/);
    assert.deepEqual(counts.redis, ["evalsha"]);
    reset();
    await store.put({ tenant: "t", namespace: "kv", key: "w1" }, { a: 2 }, { ifVersion: 1 });
    assert.equal(counts.sql.length, 1, "a compare-and-set write is one statement too");
    assert.deepEqual(counts.redis, ["evalsha"]);
  });

  it("a hot hit costs 1 Redis command and no SQL", async () => {
    const ref = { tenant: "t", namespace: "kv", key: "r1" };
    await store.put(ref, "cached");
    reset();
    const got = await store.get(ref);
    assert.equal(got?.tier, "hot");
    assert.equal(got?.value, "cached");
    assert.deepEqual(counts.redis, ["hget"]);
    assert.equal(counts.sql.length, 0);
  });

  it("a miss costs 1 Redis read, 1 SQL query and 1 promotion", async () => {
    const ref = { tenant: "t", namespace: "kv", key: "m1" };
    await store.put(ref, "in warm");
    await redisClient.del((store.hot as RedisStore).recordKey(ref));
    reset();
    const got = await store.get(ref);
    assert.equal(got?.tier, "warm");
    await new Promise((r) => setTimeout(r, 50)); // the promotion is not awaited by the read
    assert.equal(counts.sql.length, 1);
    assert.deepEqual(counts.redis, ["hget", "evalsha"]);
    reset();
    assert.equal((await store.get(ref))?.tier, "hot", "promoted");
    assert.equal(counts.sql.length, 0);
  });

  it("a strong read skips hot", async () => {
    const ref = { tenant: "t", namespace: "kv", key: "s1" };
    await store.put(ref, "x");
    reset();
    const got = await store.get(ref, { consistency: "strong" });
    assert.equal(got?.tier, "warm");
    assert.equal(counts.sql.length, 1);
  });
});
