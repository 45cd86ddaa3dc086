// Chaos: the stores fail under load — Redis killed and restarted, Redis paused, PostgreSQL stopped and
// restarted, an app instance killed — and every acknowledged increment is there afterwards, counters
// exact, no stale value served from hot. Each test starts its own redis-server / PostgreSQL cluster on
// free ports and stops it by its pid; the machine's shared services are never touched.
import assert from "node:assert/strict";
import path from "node:path";
import { after, describe, it } from "node:test";
import { startApi, type ApiFixture } from "../helpers/api";
import { type LoadResult, readCounters, seedCounters, sleep, startIncrementLoad } from "../helpers/load";
import { startOwnPostgres } from "../helpers/own-postgres";
import { startOwnRedis, startOwnRedisCluster } from "../helpers/redis-server";
import { startServer } from "../helpers/server";

const KEYS = ["c0", "c1", "c2", "c3", "c4"];

async function assertExact(
  api: ApiFixture,
  url: string,
  key: string,
  load: LoadResult,
  allowAmbiguous = false,
  ns = "kv",
): Promise<void> {
  const counters = await readCounters(url, key, KEYS, ns);
  for (const k of KEYS) {
    const c = counters.get(k)!;
    const acked = load.acknowledged.get(k)!;
    if (allowAmbiguous)
      assert.ok(
        c.count >= acked && c.count <= acked + load.ambiguous,
        `${k}: ${c.count} within [${acked}, ${acked + load.ambiguous}]`,
      );
    else assert.equal(c.count, acked, `${k}: every acknowledged increment, and only those`);
    assert.equal(c.version, c.count + 1, `${k}: one version per increment`);
    assert.equal(
      c.defaultVersion,
      c.version,
      `${k}: the default (hot-first) read serves the latest version, tier ${c.defaultTier}`,
    );
  }
  void api;
}

async function circuitOf(url: string, tier: string): Promise<string> {
  const body = (await (await fetch(`${url}/api/ready`)).json()) as { stores: { tier: string; circuit: string }[] };
  return body.stores.find((s) => s.tier === tier)!.circuit;
}

async function metricCircuit(url: string, tier: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`statehouse_store_circuit_state\\{[^}]*tier="${tier}"[^}]*\\} (\\d)`).exec(text);
  return Number(m?.[1]);
}

describe("chaos: stores fail under load", () => {
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it("Redis killed and restarted: nothing acknowledged is lost, no stale reads after", {
    timeout: 120_000,
  }, async () => {
    const redis = await startOwnRedis();
    cleanups.push(() => redis.stop());
    const api = await startApi({
      REDIS_URL: redis.url,
      STATEHOUSE_STORE_TIMEOUT_MS: "500",
      STATEHOUSE_BREAKER_OPEN_MS: "1000",
    });
    cleanups.push(() => api.close());
    const { key } = await api.clientFor("chaos");
    await seedCounters(api.url, key, KEYS);
    const load = startIncrementLoad({ urls: () => [api.url], apiKey: key, keys: KEYS, clients: 8 });
    await sleep(1500);
    await redis.stop();
    await sleep(1500);
    assert.equal(await circuitOf(api.url, "hot"), "open", "the hot circuit opens while Redis is gone");
    assert.equal(await metricCircuit(api.url, "hot"), 2, "and /metrics says so");
    const during = load.result.acknowledged.get("c0")!;
    await sleep(1500);
    assert.ok(load.result.acknowledged.get("c0")! > during, "increments go on (through warm) while Redis is down");
    const restarted = await startOwnRedisOnPort(redis.port);
    cleanups.push(() => restarted.stop());
    await sleep(3000);
    const result = await load.stop();
    await sleep(1500); // hot repairs run every second
    assert.equal(await circuitOf(api.url, "hot"), "closed", "the circuit closes once Redis answers");
    assert.equal(await metricCircuit(api.url, "hot"), 0);
    await assertExact(api, api.url, key, result);
  });

  it("Redis paused 5 s: no request waits much past its timeout; no stale reads after", {
    timeout: 120_000,
  }, async () => {
    const redis = await startOwnRedis();
    cleanups.push(() => redis.stop());
    const api = await startApi({
      REDIS_URL: redis.url,
      STATEHOUSE_STORE_TIMEOUT_MS: "500",
      STATEHOUSE_BREAKER_OPEN_MS: "1000",
    });
    cleanups.push(() => api.close());
    const { key } = await api.clientFor("chaos");
    await seedCounters(api.url, key, KEYS);
    const load = startIncrementLoad({ urls: () => [api.url], apiKey: key, keys: KEYS, clients: 8 });
    await sleep(1500);
    redis.process.kill("SIGSTOP");
    await sleep(2500);
    assert.notEqual(await circuitOf(api.url, "hot"), "closed", "the hot circuit leaves closed while Redis is paused");
    assert.notEqual(await metricCircuit(api.url, "hot"), 0);
    await sleep(2500);
    redis.process.kill("SIGCONT");
    await sleep(3000);
    const result = await load.stop();
    await sleep(1500);
    assert.equal(await circuitOf(api.url, "hot"), "closed", "closed again after Redis resumes");
    assert.ok(
      result.maxLatencyMs < 3000,
      `slowest request ${Math.round(result.maxLatencyMs)} ms (store timeout 500 ms)`,
    );
    assert.equal(result.ambiguous, 0);
    await assertExact(api, api.url, key, result);
  });

  it("PostgreSQL stopped and restarted: writes get 503 meanwhile, never a silent loss", {
    timeout: 120_000,
  }, async () => {
    const pg = await startOwnPostgres();
    cleanups.push(() => pg.destroy());
    const api = await startApi({
      DATABASE_URL: pg.url,
      STATEHOUSE_STORE_TIMEOUT_MS: "800",
      STATEHOUSE_BREAKER_OPEN_MS: "1000",
    });
    cleanups.push(() => api.close());
    const { key } = await api.clientFor("chaos");
    await seedCounters(api.url, key, KEYS);
    const load = startIncrementLoad({ urls: () => [api.url], apiKey: key, keys: KEYS, clients: 8 });
    await sleep(1500);
    pg.stop("immediate");
    await sleep(2500);
    assert.equal((await fetch(`${api.url}/api/ready`)).status, 503, "not ready without the source of truth");
    assert.equal(await circuitOf(api.url, "warm"), "open", "the warm circuit opens while PostgreSQL is down");
    assert.equal(await metricCircuit(api.url, "warm"), 2, "and /metrics says so");
    const before = structuredClone([...load.result.acknowledged]);
    await sleep(1000);
    assert.deepEqual([...load.result.acknowledged], before, "no write is acknowledged while PostgreSQL is down");
    assert.ok((load.result.statuses.get(503) ?? 0) > 0, "writes were answered 503");
    pg.start();
    await sleep(4000);
    const result = await load.stop();
    assert.equal((await fetch(`${api.url}/api/ready`)).status, 200);
    assert.equal(await circuitOf(api.url, "warm"), "closed", "and closes once it answers");
    assert.equal(await metricCircuit(api.url, "warm"), 0);
    assert.ok(
      [...result.acknowledged.values()].reduce((a, b) => a + b) > [...before].reduce((a, [, b]) => a + b, 0),
      "writes resumed",
    );
    await assertExact(api, api.url, key, result);
  });

  it("PostgreSQL stopped and restarted under a namespace that buffers: writes answered 202, all in warm afterwards", {
    timeout: 120_000,
  }, async () => {
    const pg = await startOwnPostgres();
    cleanups.push(() => pg.destroy());
    // `drafts` (a declared namespace) buffers as `sessions` does; sessions are written only by the agents.
    const api = await startApi({
      DATABASE_URL: pg.url,
      STATEHOUSE_STORE_TIMEOUT_MS: "800",
      STATEHOUSE_BREAKER_OPEN_MS: "1000",
      STATEHOUSE_NAMESPACES: path.join(import.meta.dirname, "../fixtures/namespaces-open.ts"),
    });
    cleanups.push(() => api.close());
    const { key } = await api.clientFor("chaos");
    await seedCounters(api.url, key, KEYS, "drafts");
    const load = startIncrementLoad({
      urls: () => [api.url],
      apiKey: key,
      keys: KEYS,
      clients: 8,
      namespace: "drafts",
    });
    await sleep(1500);
    pg.stop("immediate");
    await sleep(3000);
    assert.ok(load.result.buffered > 0, "writes were buffered (202) while PostgreSQL was down");
    pg.start();
    await sleep(4000);
    const result = await load.stop();
    await sleep(2000); // the journal replays every second
    await assertExact(api, api.url, key, result, false, "drafts");
  });

  it("a Redis Cluster master killed under load changes nothing acknowledged", { timeout: 120_000 }, async () => {
    const cluster = await startOwnRedisCluster();
    cleanups.push(() => cluster.stop());
    const api = await startApi({
      REDIS_URL: cluster.url,
      STATEHOUSE_STORE_TIMEOUT_MS: "500",
      STATEHOUSE_BREAKER_OPEN_MS: "1000",
    });
    cleanups.push(() => api.close());
    assert.equal(
      ((await (await fetch(`${api.url}/api/ready`)).json()) as { stores: { backend: string }[] }).stores[0]!.backend,
      "redis",
    );
    const { key } = await api.clientFor("chaos");
    await seedCounters(api.url, key, KEYS);
    const load = startIncrementLoad({ urls: () => [api.url], apiKey: key, keys: KEYS, clients: 8 });
    await sleep(1500);
    await cluster.nodes[2]!.stop();
    await sleep(5000);
    const result = await load.stop();
    assert.ok([...result.acknowledged.values()].every((n) => n > 0));
    const counters = await readCounters(api.url, key, KEYS);
    for (const k of KEYS) {
      assert.equal(counters.get(k)!.count, result.acknowledged.get(k), `${k}: every acknowledged increment`);
      assert.equal(counters.get(k)!.version, counters.get(k)!.count + 1);
    }
  });

  it("an app instance killed with SIGKILL mid-load while another goes on", { timeout: 120_000 }, async () => {
    const api = await startApi();
    cleanups.push(() => api.close());
    const second = await startServer(api.env);
    cleanups.push(() => second.stop());
    const { key } = await api.clientFor("chaos");
    await seedCounters(api.url, key, KEYS);
    let alive = [api.url, second.url];
    const load = startIncrementLoad({ urls: () => alive, apiKey: key, keys: KEYS, clients: 10 });
    await sleep(2000);
    second.process.kill("SIGKILL");
    alive = [api.url];
    await sleep(2500);
    const result = await load.stop();
    assert.ok(result.acknowledged.get("c0")! > 0);
    await assertExact(api, api.url, key, result, true);
  });
});

describe("several instances on one Redis and PostgreSQL", () => {
  it("three instances on a 3-master Redis Cluster: exact final counts", { timeout: 120_000 }, async () => {
    const cluster = await startOwnRedisCluster();
    const api = await startApi({ REDIS_URL: cluster.url });
    const others = [await startServer(api.env), await startServer(api.env)];
    try {
      const { key } = await api.clientFor("fleet");
      const keys = Array.from({ length: 10 }, (_, i) => `cl${i}`);
      await seedCounters(api.url, key, keys);
      const urls = [api.url, ...others.map((o) => o.url)];
      const load = startIncrementLoad({ urls: () => urls, apiKey: key, keys, clients: 30 });
      await sleep(5000);
      const result = await load.stop();
      for (const url of urls) {
        const counters = await readCounters(url, key, keys);
        for (const k of keys) {
          assert.equal(counters.get(k)!.count, result.acknowledged.get(k), `${k} through ${url}`);
          assert.equal(counters.get(k)!.defaultVersion, counters.get(k)!.version, `${k}: no stale copy in the cluster`);
        }
      }
    } finally {
      await Promise.all(others.map((o) => o.stop()));
      await api.close();
      await cluster.stop();
    }
  });

  it("three instances, 50 clients incrementing 10 keys through all of them: exact final counts", {
    timeout: 120_000,
  }, async () => {
    const api = await startApi();
    const others = [await startServer(api.env), await startServer(api.env)];
    try {
      const { key } = await api.clientFor("fleet");
      const keys = Array.from({ length: 10 }, (_, i) => `n${i}`);
      await seedCounters(api.url, key, keys);
      const urls = [api.url, ...others.map((o) => o.url)];
      const load = startIncrementLoad({ urls: () => urls, apiKey: key, keys, clients: 50 });
      await sleep(6000);
      const result = await load.stop();
      assert.equal(result.ambiguous, 0);
      for (const url of urls) {
        const counters = await readCounters(url, key, keys);
        for (const k of keys) {
          assert.equal(counters.get(k)!.count, result.acknowledged.get(k), `${k} through ${url}`);
          assert.equal(
            counters.get(k)!.defaultVersion,
            counters.get(k)!.version,
            `${k}: no instance serves a stale copy`,
          );
        }
      }
      assert.ok([...result.acknowledged.values()].every((n) => n > 0));
    } finally {
      await Promise.all(others.map((o) => o.stop()));
      await api.close();
    }
  });
});

async function startOwnRedisOnPort(port: number) {
  const { spawn } = await import("node:child_process");
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("redis-server did not restart")), 10_000);
    child.stdout!.on("data", (d: Buffer) => {
      if (!/Ready to accept connections/.test(d.toString())) return;
      clearTimeout(timer);
      resolve();
    });
  });
  return { stop: async () => void child.kill("SIGKILL") };
}
