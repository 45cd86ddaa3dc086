// The outbox relay against the real PostgreSQL and Redis: every durable change's event arrives at least
// once, in order per key, with ids that deduplicate exactly — also when the relay dies between
// publishing and marking; several relays never publish the same event in the normal case; webhooks
// are signed.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { type OutboxEvent, OutboxRelay, RedisStreamPublisher, WebhookPublisher } from "../../server/outbox/relay";
import { openWarmDatabase, type WarmDatabase } from "../../server/db/warm-database";
import { OutboxRepository } from "../../server/outbox/outbox-repository";
import { PostgresStore } from "../../server/state/postgres";
import { createTestDatabase, createTestRedis, type TestDatabase } from "../helpers/services";

describe("outbox relay", () => {
  let db: TestDatabase;
  let warmDb: WarmDatabase;
  let warm: PostgresStore;
  let outbox: OutboxRepository;
  const redisInfo = createTestRedis();
  let redis: Redis;
  const stream = `${redisInfo.prefix}events`;

  before(async () => {
    db = await createTestDatabase();
    warmDb = await openWarmDatabase({ url: db.url });
    warm = PostgresStore.on(warmDb);
    outbox = new OutboxRepository(warmDb.prisma);
    redis = new Redis(redisInfo.url);
  });
  after(async () => {
    await warm.close();
    redis.disconnect();
    await db.drop();
    await redisInfo.cleanup();
  });

  const readStream = async (): Promise<OutboxEvent[]> =>
    (await redis.xrange(stream, "-", "+")).map(
      ([, fields]) => JSON.parse(fields[fields.indexOf("event") + 1]!) as OutboxEvent,
    );

  it("publishes every change once, in version order per key, and marks it published", async () => {
    const relay = new OutboxRelay(outbox, [new RedisStreamPublisher(redis, stream)]);
    for (let i = 0; i < 30; i++) await warm.put({ tenant: "t", namespace: "kv", key: `k${i % 3}` }, { i });
    await warm.delete({ tenant: "t", namespace: "kv", key: "k0" });
    while ((await relay.runOnce()) > 0);
    const events = await readStream();
    assert.equal(events.length, 31);
    assert.equal(new Set(events.map((e) => e.id)).size, 31);
    for (const key of ["k0", "k1", "k2"]) {
      const versions = events.filter((e) => e.key === key).map((e) => e.version);
      assert.deepEqual(
        versions,
        [...versions].sort((a, b) => a - b),
        `${key} in version order`,
      );
    }
    assert.equal(events.at(-1)!.operation, "delete");
    assert.deepEqual(await outbox.stats(), { pending: 0, lagSeconds: 0 });
  });

  it("a relay that dies between publishing and marking loses nothing: the batch is published again, ids deduplicate exactly", async () => {
    await redis.del(stream);
    for (let i = 0; i < 10; i++) await warm.put({ tenant: "t", namespace: "kv", key: "crash" }, { i });
    const dying = new OutboxRelay(outbox, [new RedisStreamPublisher(redis, stream)], {
      afterPublish: () => {
        throw new Error("killed after publishing, before marking");
      },
    });
    await assert.rejects(dying.runOnce(), /killed after publishing/);
    assert.equal((await outbox.stats()).pending, 10, "nothing was marked");
    const survivor = new OutboxRelay(outbox, [new RedisStreamPublisher(redis, stream)]);
    while ((await survivor.runOnce()) > 0);
    const events = await readStream();
    assert.equal(events.length, 20, "the batch arrived twice (at least once)");
    const unique = new Map(events.map((e) => [e.id, e]));
    assert.equal(unique.size, 10, "deduplicating by id leaves each change exactly once");
    assert.deepEqual(
      [...unique.values()].map((e) => e.version),
      Array.from({ length: 10 }, (_, i) => i + 1),
    );
    assert.equal((await outbox.stats()).pending, 0);
  });

  it("a relay process killed (SIGKILL) between publishing and marking: the next relay publishes the batch again, nothing missing", async () => {
    await redis.del(stream);
    for (let i = 0; i < 25; i++) await warm.put({ tenant: "t", namespace: "kv", key: `killed-${i % 5}` }, { i });
    const { spawnSync } = await import("node:child_process");
    const path = await import("node:path");
    const child = spawnSync(
      process.execPath,
      ["--import", "tsx", path.join(import.meta.dirname, "../helpers/relay-crash.ts"), db.url, redisInfo.url, stream],
      { encoding: "utf8", timeout: 60_000 },
    );
    assert.equal(child.signal, "SIGKILL", `the relay process was killed: ${child.stderr}`);
    assert.equal((await readStream()).length, 25, "it had published the batch");
    assert.equal((await outbox.stats()).pending, 25, "but marked nothing");
    const survivor = new OutboxRelay(outbox, [new RedisStreamPublisher(redis, stream)]);
    while ((await survivor.runOnce()) > 0);
    const events = await readStream();
    assert.equal(events.length, 50);
    const unique = new Map(events.map((e) => [e.id, e]));
    assert.equal(unique.size, 25, "every change exactly once after deduplicating by id");
    for (let k = 0; k < 5; k++) {
      assert.deepEqual(
        [...unique.values()].filter((e) => e.key === `killed-${k}`).map((e) => e.version),
        [1, 2, 3, 4, 5],
      );
    }
    assert.equal((await outbox.stats()).pending, 0);
  });

  it("several relays at once do not publish the same event twice", async () => {
    await redis.del(stream);
    for (let i = 0; i < 200; i++) await warm.put({ tenant: "t", namespace: "kv", key: `m${i % 10}` }, { i });
    const second = await openWarmDatabase({ url: db.url }, { migrate: false });
    try {
      const relays = [outbox, new OutboxRepository(second.prisma)]
        .flatMap((o) => [o, o])
        .map((o) => new OutboxRelay(o, [new RedisStreamPublisher(redis, stream)], { batchSize: 20 }));
      await Promise.all(
        relays.map(async (r) => {
          for (let n = 0; n < 50; n++) if ((await r.runOnce()) === 0 && (await outbox.stats()).pending === 0) break;
        }),
      );
      const events = await readStream();
      assert.equal(events.length, 200);
      assert.equal(new Set(events.map((e) => e.id)).size, 200, "no event published twice");
    } finally {
      await second.close();
    }
  });

  it("signs webhooks with HMAC-SHA256 over the timestamp and body", async () => {
    const received: { signature: string; body: string }[] = [];
    const hook = createServer(async (req, res) => {
      let body = "";
      for await (const c of req) body += c;
      received.push({ signature: String(req.headers["statehouse-signature"]), body });
      res.writeHead(204).end();
    });
    await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
    try {
      const secret = "whsec-test-0123456789";
      const relay = new OutboxRelay(outbox, [
        new WebhookPublisher(`http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`, secret),
      ]);
      await warm.put({ tenant: "t", namespace: "kv", key: "hooked" }, { ok: true });
      while ((await relay.runOnce()) > 0);
      assert.equal(received.length, 1);
      const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(received[0]!.signature)!;
      assert.equal(v1, createHmac("sha256", secret).update(`${t}.${received[0]!.body}`).digest("hex"));
      const { events } = JSON.parse(received[0]!.body) as { events: OutboxEvent[] };
      assert.deepEqual(
        events.map((e) => [e.key, e.version, e.operation]),
        [["hooked", 1, "put"]],
      );
    } finally {
      hook.close();
    }
  });

  it("a failing destination keeps events pending (never marked unpublished as published)", async () => {
    const relay = new OutboxRelay(outbox, [
      new WebhookPublisher("http://127.0.0.1:1/nothing-listens", "secret-0123456789abcdef"),
    ]);
    await warm.put({ tenant: "t", namespace: "kv", key: "undeliverable" }, 1);
    await assert.rejects(relay.runOnce());
    assert.equal((await outbox.stats()).pending, 1);
    await warmDb.prisma.$executeRawUnsafe("UPDATE outbox_events SET published_at = now() WHERE published_at IS NULL"); // leave the database clean for the next test
  });
});
