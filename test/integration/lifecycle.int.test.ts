import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import pg from "pg";
import { loadConfig } from "../../server/config";
import { buildServices, type Services } from "../../server/container";
import type { RedisStore } from "../../server/state/redis";
import { type ApiFixture, startApi } from "../helpers/api";
import { createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from "../helpers/services";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The value of one Prometheus counter series (0 when absent). */
function counter(text: string, name: string, labels: Record<string, string>): number {
  const line = text
    .split("\n")
    .find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
}

describe("lifecycle through the API: idle and absolute expiry, swept from every tier and counted", () => {
  let api: ApiFixture;
  let key: string;
  before(async () => {
    api = await startApi({ STATEHOUSE_SWEEP_INTERVAL_MS: "300" });
    ({ key } = await api.clientFor("life", ["state:read", "state:write"]));
  });
  after(async () => api?.close());

  it("an idle TTL slides on reads; both kinds expire, become tombstones in warm and hot, and are counted", {
    timeout: 60_000,
  }, async () => {
    const put = (k: string, body: unknown) => api.send("PUT", `/api/v1/state/kv/${k}`, body, { key });
    const get = (k: string) => api.call(`/api/v1/state/kv/${k}`, { key });
    const before = await (await api.call("/metrics")).text();

    assert.equal((await put("absolute", { value: "a", ttlSeconds: 1 })).status, 201);
    const idle = await put("idle", { value: "i", idleTtlSeconds: 2 });
    assert.equal(idle.status, 201);
    const firstExpiry = Date.parse(((await idle.json()) as { expiresAt: string }).expiresAt);
    assert.equal((await put("bad-idle", { value: 1, idleTtlSeconds: -1 })).status, 422, "a bad idle TTL is refused");

    await sleep(1300);
    assert.equal((await get("absolute")).status, 404, "absolute expiry: gone after its TTL");
    const touched = await get("idle");
    assert.equal(touched.status, 200);
    const touchedExpiry = Date.parse(((await touched.json()) as { expiresAt: string }).expiresAt);
    assert.ok(touchedExpiry > firstExpiry + 1000, "a read pushed the idle expiry forward");
    await sleep(1200); // past the first expiry (2 s after the write), inside the touched one
    assert.equal((await get("idle")).status, 200, "the touched record outlived its first expiry");
    await sleep(2600); // left alone for more than its idle window
    assert.equal((await get("idle")).status, 404, "idle expiry: gone when not accessed");

    // The sweeper (every 300 ms here) turns both into tombstones in warm and in hot.
    const db = new pg.Client({ connectionString: api.db.url });
    await db.connect();
    const redis = new Redis(api.redis.url);
    try {
      let rows: { key: string; deleted: boolean; version: number }[] = [];
      for (let i = 0; i < 50; i++) {
        rows = (
          await db.query(
            "SELECT key, deleted, version FROM state_records WHERE tenant = 'life' AND namespace = 'kv' ORDER BY key",
          )
        ).rows;
        if (rows.length === 2 && rows.every((r) => r.deleted)) break;
        await sleep(200);
      }
      assert.deepEqual(
        rows.map((r) => [r.key, r.deleted, r.version]),
        [
          ["absolute", true, 2],
          ["idle", true, 2],
        ],
        "warm keeps only tombstones",
      );
      const history = (
        await db.query(
          "SELECT key, operation, actor FROM state_history WHERE tenant = 'life' AND version = 2 ORDER BY key",
        )
      ).rows;
      assert.deepEqual(history, [
        { key: "absolute", operation: "delete", actor: "lifecycle:expired" },
        { key: "idle", operation: "delete", actor: "lifecycle:expired" },
      ]);
      for (const k of ["absolute", "idle"]) {
        const hot = await redis.hgetall(`${api.env.STATEHOUSE_KEY_PREFIX}r:{life/kv/${k}}`);
        assert.ok(Object.keys(hot).length === 0 || hot.d === "1", `no live copy of ${k} in hot`);
      }
      const events = (
        await db.query(
          "SELECT key, operation, payload::text FROM outbox_events WHERE tenant = 'life' AND version = 2 ORDER BY key",
        )
      ).rows;
      assert.equal(events.length, 2, "each expiry is announced in the outbox");
      assert.ok(events.every((e) => e.operation === "delete" && e.payload.includes('"reason" : "expired"')));
    } finally {
      await db.end();
      redis.disconnect();
    }
    const text = await (await api.call("/metrics")).text();
    const swept =
      counter(text, "statehouse_lifecycle_events_total", { event: "expired", namespace: "kv" }) -
      counter(before, "statehouse_lifecycle_events_total", { event: "expired", namespace: "kv" });
    assert.equal(swept, 2, "two expiries counted");
    assert.ok(
      counter(text, "statehouse_lifecycle_events_total", { event: "idle_refreshed", namespace: "kv" }) >= 1,
      "idle refreshes are counted",
    );
    // Re-created, a key continues its versions.
    const again = await put("absolute", { value: "back" });
    assert.equal(again.status, 201);
    assert.equal(again.headers.get("etag"), '"3"');
  });
});

describe("a session's rolling window over 500 turns", () => {
  let api: ApiFixture;
  let key: string;
  before(async () => {
    api = await startApi();
    ({ key } = await api.clientFor("windows", ["state:read", "state:write", "agents:invoke"]));
  });
  after(async () => api?.close());

  it("stays within its window and byte budget, summarizes every turn that left, and stops growing", {
    timeout: 180_000,
  }, async () => {
    const topics = [
      "astronomy",
      "baking",
      "cycling",
      "dinosaurs",
      "espresso",
      "falconry",
      "gardening",
      "hiking",
      "ikebana",
      "juggling",
    ];
    const created = await api.call("/api/v1/agents/assistant/sessions", { method: "POST", key });
    const { sessionId } = (await created.json()) as { sessionId: string };
    const sizes: number[] = [];
    for (let turn = 1; turn <= 500; turn++) {
      // Turns of varying length (up to ~3 KiB), each about one of ten topics.
      const filler = " and more detail".repeat((turn * 37) % 190);
      const res = await api.send(
        "POST",
        `/api/v1/agents/assistant/sessions/${sessionId}/messages`,
        { content: `Turn ${turn} is about ${topics[turn % topics.length]}${filler}.` },
        { key },
      );
      assert.equal(res.status, 200, `turn ${turn}`);
      if (turn % 50 === 0) {
        const state = await api.call(`/api/v1/state/sessions/${sessionId}`, { key });
        sizes.push(Number(/size=(\d+)\//.exec(state.headers.get("statehouse-budget") ?? "")?.[1]));
      }
    }
    const res = await api.call(`/api/v1/agents/assistant/sessions/${sessionId}`, { key });
    const s = (await res.json()) as {
      turnCount: number;
      turns: { turn: number }[];
      summarizedTurns: number;
      summary: string;
      sizeBytes: number;
      budget: { turns: { used: number; max: number }; bytes: { used: number; max: number } };
    };
    assert.equal(s.turnCount, 500);
    assert.ok(s.turns.length <= 10 && s.turns.length >= 1, "within the window by count");
    assert.equal(s.turns.at(-1)!.turn, 500);
    assert.ok(
      s.budget.bytes.used <= s.budget.bytes.max,
      `within the window by bytes (${s.budget.bytes.used} of ${s.budget.bytes.max})`,
    );
    assert.equal(s.summarizedTurns + s.turns.length, 500, "every turn is either in the window or summarized");
    const [topicLine, ...lines] = s.summary.split("\n");
    for (const t of topics)
      assert.match(
        topicLine!,
        new RegExp(`${t} \\(\\d+\\)`),
        `the summary still covers ${t}, first seen in turn ${topics.indexOf(t) || 10}`,
      );
    assert.match(
      lines.at(-1)!,
      new RegExp(`^#${s.turns[0]!.turn - 1}: Turn ${s.turns[0]!.turn - 1} is about`),
      "the last turn to leave the window is the newest summary line",
    );
    assert.ok(s.summary.length <= 4000, "the summary is bounded");

    // Bounded: window (64 KiB) + summary (4000 chars) + entities and counters; and flat from turn 100 on.
    const bound = 64 * 1024 + 4000 + 2048;
    assert.ok(Math.max(...sizes) <= bound, `stored size ${Math.max(...sizes)} within ${bound}`);
    const early = Math.max(...sizes.slice(0, 2));
    assert.ok(
      sizes.slice(2).every((size) => size <= early * 1.15),
      `no growth after turn 100: ${sizes.join(", ")}`,
    );
    const budget =
      (await api.call(`/api/v1/state/sessions/${sessionId}`, { key })).headers.get("statehouse-budget") ?? "";
    assert.match(
      budget,
      /^size=\d+\/1048576, turns\.items=\d+\/10, turns\.bytes=\d+\/65536$/,
      "reads report the budget",
    );
  });
});

describe("size limits per namespace", () => {
  let api: ApiFixture;
  let key: string;
  before(async () => {
    api = await startApi();
    ({ key } = await api.clientFor("sizes", ["state:read", "state:write"]));
  });
  after(async () => api?.close());

  it("over the failing level: 413 and the previous version intact; over the warning level: written, with the warning and an event", {
    timeout: 60_000,
  }, async () => {
    const send = (method: string, body: unknown, headers: Record<string, string> = {}) =>
      api.call("/api/v1/state/ratelimits/bucket", {
        method,
        key,
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      });
    const metrics = async () => (await api.call("/metrics")).text();
    const before = await metrics();
    assert.equal((await send("PUT", { value: { tokens: 5 } })).status, 201);

    const refused = await send("PUT", { value: { tokens: 5, pad: "x".repeat(20_000) } });
    assert.equal(refused.status, 413);
    assert.equal(refused.headers.get("content-type"), "application/problem+json");
    const problem = (await refused.json()) as { code: string; limitBytes: number; sizeBytes: number };
    assert.equal(problem.code, "too_large");
    assert.equal(problem.limitBytes, 16 * 1024);
    assert.ok(problem.sizeBytes > 20_000);
    const patched = await send(
      "PATCH",
      { pad: "y".repeat(20_000) },
      { "content-type": "application/merge-patch+json" },
    );
    assert.equal(patched.status, 413, "a patch that would grow past the limit is refused too");
    const current = await api.call("/api/v1/state/ratelimits/bucket", { key });
    assert.equal(current.status, 200);
    assert.equal(current.headers.get("etag"), '"1"', "nothing changed: still version 1");
    assert.deepEqual(((await current.json()) as { value: unknown }).value, { tokens: 5 });

    const warned = await send("PUT", { value: { tokens: 4, pad: "z".repeat(2000) } }, { "if-match": '"1"' });
    assert.equal(warned.status, 200, "over the warning level the write succeeds");
    assert.equal(warned.headers.get("etag"), '"2"');
    assert.match(warned.headers.get("statehouse-size-warning") ?? "", /warning level of 1024/);
    const after = await metrics();
    const delta = (event: string) =>
      counter(after, "statehouse_lifecycle_events_total", { event, namespace: "ratelimits" }) -
      counter(before, "statehouse_lifecycle_events_total", { event, namespace: "ratelimits" });
    assert.equal(delta("size_rejected"), 2);
    assert.equal(delta("size_warning"), 1);
  });
});

describe("the sweeper with two instances, archiving and orphans (real PostgreSQL and Redis)", () => {
  let db: TestDatabase;
  let redis: TestRedis;
  let a: Services;
  let b: Services;
  let env: Record<string, string>;
  before(async () => {
    db = await createTestDatabase();
    redis = createTestRedis();
    env = {
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      STATEHOUSE_KEY_PREFIX: redis.prefix.slice(0, 32),
      STATEHOUSE_ADMIN_TOKEN: "lifecycle-test-admin-token",
      STATEHOUSE_DATA_DIR: `/tmp/${redis.prefix.slice(0, -1)}`,
      STATEHOUSE_SWEEP_INTERVAL_MS: "0",
      STATEHOUSE_OUTBOX_RELAY: "off",
    };
    a = await buildServices(loadConfig(env));
    b = await buildServices(loadConfig(env));
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await db?.drop().catch(() => {});
    await redis?.cleanup();
    await rm(env.STATEHOUSE_DATA_DIR!, { recursive: true, force: true });
  });

  it("two sweepers at once expire each record exactly once; archived namespaces keep value and history in cold", {
    timeout: 90_000,
  }, async () => {
    const tenant = "sweep";
    const kv = Array.from({ length: 300 }, (_, i) => ({ tenant, namespace: "kv", key: `k${i}` }));
    const sessions = Array.from({ length: 20 }, (_, i) => ({ tenant, namespace: "sessions", key: `s${i}` }));
    for (let i = 0; i < kv.length; i += 50)
      await Promise.all(kv.slice(i, i + 50).map((ref) => a.state.put(ref, { i: ref.key }, { ttlSeconds: 1 })));
    for (const ref of sessions) {
      const first = await a.state.put(ref, { turns: ["hello"] });
      await a.state.put(ref, { turns: ["hello", "again"] }, { ifVersion: first.record.version, ttlSeconds: 1 });
    }
    const keep = { tenant, namespace: "kv", key: "keep" };
    await a.state.put(keep, "no expiry");
    await sleep(1200);

    const [ra, rb] = await Promise.all([a.sweeper.sweepOnce(), b.sweeper.sweepOnce()]);
    assert.equal(
      ra.expired + rb.expired,
      320,
      `each expired record removed once in all (${ra.expired} + ${rb.expired})`,
    );
    assert.equal(ra.archived + rb.archived, 20, "the sessions namespace archives what expires");

    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    try {
      const { rows } = await sql.query(
        "SELECT count(*)::int AS n, count(DISTINCT (namespace, key))::int AS keys FROM state_history WHERE tenant = $1 AND actor = 'lifecycle:expired'",
        [tenant],
      );
      assert.deepEqual(rows[0], { n: 320, keys: 320 }, "one expiry per record, never two");
      const live = await sql.query("SELECT key FROM state_records WHERE tenant = $1 AND NOT deleted", [tenant]);
      assert.deepEqual(
        live.rows.map((r) => r.key),
        ["keep"],
        "the record without expiry is untouched",
      );
    } finally {
      await sql.end();
    }
    for (const ref of [...kv.slice(0, 5), ...sessions.slice(0, 5)]) {
      assert.equal(await a.store.get(ref), undefined);
      assert.equal(await b.tiers.hot.get(ref), undefined, "no tier serves it");
    }
    const archived = await a.tiers.cold.history(sessions[0]!, { limit: 10 });
    assert.deepEqual(
      archived.map((h) => h.version),
      [2, 1],
      "the archive holds the expired session's history",
    );
    assert.deepEqual(archived[0]!.value, { turns: ["hello", "again"] });
    assert.equal((await a.tiers.cold.history(kv[0]!)).length, 0, "kv expiries are dropped, not archived");

    const again = await Promise.all([a.sweeper.sweepOnce(), b.sweeper.sweepOnce()]);
    assert.equal(again[0].expired + again[1].expired, 0, "a second sweep finds nothing to do");
  });

  it("moves finished workflow runs to the archive and restores them on read or write, versions and history intact", {
    timeout: 60_000,
  }, async () => {
    const tenant = "archive";
    const ref = (key: string) => ({ tenant, namespace: "workflows", key });
    const run = async (key: string, statuses: string[]) => {
      let version: number | undefined;
      for (const status of statuses) {
        const { record } = await a.state.put(
          ref(key),
          { status, steps: statuses.indexOf(status) },
          version === undefined ? { createOnly: true } : { ifVersion: version },
        );
        version = record.version;
      }
      return version!;
    };
    const done = await run("done", ["queued", "running", "succeeded"]);
    const other = await run("other", ["queued", "failed"]);
    await run("busy", ["queued", "running"]);
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    try {
      // As if the runs had finished two hours ago (records and history, which the move checks against each other).
      await sql.query("UPDATE state_records SET updated_at = updated_at - interval '2 hours' WHERE tenant = $1", [
        tenant,
      ]);
      await sql.query("UPDATE state_history SET created_at = created_at - interval '2 hours' WHERE tenant = $1", [
        tenant,
      ]);
      const report = await a.sweeper.sweepOnce();
      assert.equal(report.archived, 2, "the two finished runs are archived, the running one is not");
      const rows = (
        await sql.query(
          "SELECT key, archived, version, value::text AS value FROM state_records WHERE tenant = $1 ORDER BY key",
          [tenant],
        )
      ).rows;
      assert.deepEqual(
        rows.map((r) => [r.key, r.archived, r.version, r.value === "null"]),
        [
          ["busy", false, 2, false],
          ["done", true, 3, true],
          ["other", true, 2, true],
        ],
      );
      const history = (
        await sql.query("SELECT count(*)::int AS n FROM state_history WHERE tenant = $1 AND key = 'done'", [tenant])
      ).rows[0].n;
      assert.equal(history, 0, "the history moved to the archive");
      const client = new Redis(redis.url);
      try {
        const copy = await client.hgetall((a.tiers.hot.inner as RedisStore).recordKey(ref("done")));
        assert.ok(
          Object.keys(copy).length === 0 || copy.d === "1",
          "no live hot copy (a tombstone fences late promotions)",
        );
      } finally {
        client.disconnect();
      }

      const restored = await b.store.get(ref("done"));
      assert.equal(restored?.tier, "cold", "the first read restores from the archive");
      assert.deepEqual(restored?.value, { status: "succeeded", steps: 2 });
      assert.equal(restored?.version, done, "same version");
      assert.deepEqual(
        (await b.store.history(ref("done"))).map((h) => h.version),
        [3, 2, 1],
        "history kept",
      );
      assert.notEqual((await b.store.get(ref("done")))?.tier, "cold", "then it is served from warm or hot again");

      // A write with a precondition restores an archived key first, then checks against it.
      await assert.rejects(
        b.state.put(ref("other"), { status: "queued" }, { createOnly: true }),
        (err: { code: string; details: { currentVersion: number } }) =>
          err.code === "version_conflict" && err.details.currentVersion === other,
      );
      const next = await b.state.put(ref("other"), { status: "queued", retry: true }, { ifVersion: other });
      assert.equal(next.record.version, other + 1, "versions continue after a restore");
      assert.deepEqual(
        (await b.store.history(ref("other"))).map((h) => h.version),
        [3, 2, 1],
      );
    } finally {
      await sql.end();
    }
  });

  it("finds and removes orphans: old tombstones with their history, stray history, published outbox rows, hot copies with no warm record", {
    timeout: 60_000,
  }, async () => {
    const c = await buildServices(loadConfig({ ...env, STATEHOUSE_TOMBSTONE_RETENTION_SECONDS: "1" }));
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    try {
      const tenant = "orphans";
      const gone = { tenant, namespace: "kv", key: "deleted-long-ago" };
      const written = await c.state.put(gone, 1);
      await c.state.delete(gone, { ifVersion: written.record.version });
      await sql.query(
        "INSERT INTO state_history (tenant, namespace, key, version, operation, actor, value, schema_version, size_bytes, created_at) VALUES ($1, 'kv', 'never-existed', 1, 'put', NULL, '1', 1, 1, now())",
        [tenant],
      );
      await sql.query("UPDATE outbox_events SET published_at = now() - interval '1 hour' WHERE tenant = $1", [tenant]);
      const hotOnly = { tenant, namespace: "kv", key: "hot-only" };
      const raw = c.tiers.hot.inner as RedisStore;
      await raw.setIfNewer(tenant, {
        namespace: "kv",
        key: "hot-only",
        value: "stray",
        version: 4,
        schemaVersion: 1,
        createdAt: new Date(),
        updatedAt: new Date(),
        expiresAt: null,
        sizeBytes: 7,
      });
      const live = { tenant, namespace: "kv", key: "alive" };
      await c.state.put(live, "stays");
      await sleep(1500);

      const report = await c.sweeper.sweepOnce();
      assert.ok(report.tombstones >= 1, "the old tombstone is forgotten");
      assert.ok(report.orphanHistory >= 1, "history of a key with no record is removed");
      assert.ok(report.outbox >= 2, "published outbox events past retention are removed");
      // Hot copies of the purged tombstones count too: their keys are gone from warm.
      assert.ok(report.orphanHot >= 1, "hot copies with no warm record are removed");
      const client = new Redis(redis.url);
      try {
        assert.equal(await client.exists(raw.recordKey(hotOnly)), 0, "the stray hot copy is gone");
        assert.equal(await client.exists(raw.recordKey(live)), 1, "the live record's hot copy stays");
      } finally {
        client.disconnect();
      }
      const left = await sql.query("SELECT key FROM state_history WHERE tenant = $1 ORDER BY key", [tenant]);
      assert.deepEqual(
        left.rows.map((r) => r.key),
        ["alive"],
        "only the live record's history is left",
      );
      const pending = await sql.query(
        "SELECT count(*)::int AS n FROM outbox_events WHERE tenant = $1 AND published_at IS NULL",
        [tenant],
      );
      assert.equal(pending.rows[0].n, 1, "unpublished events are never removed");
      assert.equal(await raw.get(hotOnly), undefined);
      assert.equal((await c.store.get(live))?.value, "stays", "live state is untouched");
    } finally {
      await sql.end();
      await c.close();
    }
  });
});
