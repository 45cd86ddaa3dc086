// Chaos: the stores fail under load — Redis killed and restarted, Redis paused, PostgreSQL stopped and
// restarted, an app instance killed — and every acknowledged increment is there afterwards, counters
// exact, no stale value served from hot. Each test starts its own redis-server / PostgreSQL cluster on
// free ports and stops it by its pid; the machine's shared services are never touched. One table of
// scenarios, one runner: each scenario says only what it breaks and what it checks beyond the counts.
import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import { startApi, type ApiFixture } from "../helpers/api";
import { type Load, type LoadResult, readCounters, seedCounters, sleep, startIncrementLoad } from "../helpers/load";
import { type OwnPostgres, startOwnPostgres } from "../helpers/own-postgres";
import { type OwnRedis, type OwnRedisCluster, startOwnRedis, startOwnRedisCluster } from "../helpers/redis-server";
import { type RunningServer, startServer } from "../helpers/server";

/** One scenario under way: the stores it started, the instances, the load. */
interface Run {
  api: ApiFixture;
  /** Every instance but the first (started with the same environment). */
  others: RunningServer[];
  /** The instances the load goes through and the counts are read through; a scenario that kills one drops it. */
  urls: string[];
  redis: OwnRedis;
  cluster: OwnRedisCluster;
  pg: OwnPostgres;
  load: Load;
  /** Runs when the scenario ends, last pushed first. */
  cleanups: (() => Promise<unknown> | unknown)[];
}

interface Scenario {
  name: string;
  /** A store of the test's own that the scenario may break; the others are the machine's, never broken. */
  own?: "redis" | "redis-cluster" | "postgres";
  env?: Record<string, string>;
  instances?: number;
  keys?: string[];
  clients?: number;
  namespace?: string;
  /** Breaks (and heals) something under load; what it returns runs after the load has stopped. */
  fault(run: Run): Promise<((result: LoadResult) => Promise<void>) | undefined>;
  /** Whether a count may exceed the acknowledged writes by the ambiguous ones (connections broken mid-write). */
  ambiguous?: boolean;
  /** Whether the default (hot-first) read must serve the latest version too (default true). */
  hotFirst?: boolean;
}

const KEYS = ["c0", "c1", "c2", "c3", "c4"];
const TIMEOUTS = { STATEHOUSE_STORE_TIMEOUT_MS: "500", STATEHOUSE_BREAKER_OPEN_MS: "1000" };
const PG_TIMEOUTS = { STATEHOUSE_STORE_TIMEOUT_MS: "800", STATEHOUSE_BREAKER_OPEN_MS: "1000" };

/** Starts the scenario's stores and instances, seeds the counters, runs the load around its fault, checks the counts. */
async function runScenario(s: Scenario): Promise<void> {
  const run = { others: [], cleanups: [] } as unknown as Run;
  try {
    const env: Record<string, string> = { ...s.env };
    if (s.own === "redis") {
      run.redis = await startOwnRedis();
      run.cleanups.push(() => run.redis.stop());
      env.REDIS_URL = run.redis.url;
    } else if (s.own === "redis-cluster") {
      run.cluster = await startOwnRedisCluster();
      run.cleanups.push(() => run.cluster.stop());
      env.REDIS_URL = run.cluster.url;
    } else if (s.own === "postgres") {
      run.pg = await startOwnPostgres();
      run.cleanups.push(() => run.pg.destroy());
      env.DATABASE_URL = run.pg.url;
    }
    run.api = await startApi(env);
    run.cleanups.push(() => run.api.close());
    for (let i = 1; i < (s.instances ?? 1); i++) {
      const other = await startServer(run.api.env);
      run.cleanups.push(() => other.stop());
      run.others.push(other);
    }
    run.urls = [run.api.url, ...run.others.map((o) => o.url)];
    const { key } = await run.api.clientFor("chaos");
    const keys = s.keys ?? KEYS;
    await seedCounters(run.api.url, key, keys, s.namespace);
    run.load = startIncrementLoad({
      urls: () => run.urls,
      apiKey: key,
      keys,
      clients: s.clients ?? 8,
      namespace: s.namespace,
    });
    const afterLoad = await s.fault(run);
    const result = await run.load.stop();
    await afterLoad?.(result);
    for (const url of run.urls) {
      const counters = await readCounters(url, key, keys, s.namespace);
      for (const k of keys) {
        const c = counters.get(k)!;
        const acked = result.acknowledged.get(k)!;
        if (s.ambiguous)
          assert.ok(
            c.count >= acked && c.count <= acked + result.ambiguous,
            `${k}: ${c.count} within [${acked}, ${acked + result.ambiguous}]`,
          );
        else assert.equal(c.count, acked, `${k} through ${url}: every acknowledged increment, and only those`);
        assert.equal(c.version, c.count + 1, `${k}: one version per increment`);
        if (s.hotFirst !== false)
          assert.equal(
            c.defaultVersion,
            c.version,
            `${k} through ${url}: the default (hot-first) read serves the latest version, tier ${c.defaultTier}`,
          );
      }
    }
  } finally {
    for (const c of run.cleanups.reverse()) await c();
  }
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

const FAULTS: Scenario[] = [
  {
    name: "Redis killed and restarted: nothing acknowledged is lost, no stale reads after",
    own: "redis",
    env: TIMEOUTS,
    async fault({ api, redis, load, cleanups }) {
      await sleep(1500);
      await redis.stop();
      await sleep(1500);
      assert.equal(await circuitOf(api.url, "hot"), "open", "the hot circuit opens while Redis is gone");
      assert.equal(await metricCircuit(api.url, "hot"), 2, "and /metrics says so");
      const during = load.result.acknowledged.get("c0")!;
      await sleep(1500);
      assert.ok(load.result.acknowledged.get("c0")! > during, "increments go on (through warm) while Redis is down");
      const restarted = await startOwnRedis(redis.port);
      cleanups.push(() => restarted.stop());
      await sleep(3000);
      return async () => {
        await sleep(1500); // hot repairs run every second
        assert.equal(await circuitOf(api.url, "hot"), "closed", "the circuit closes once Redis answers");
        assert.equal(await metricCircuit(api.url, "hot"), 0);
      };
    },
  },
  {
    name: "Redis paused 5 s: no request waits much past its timeout; no stale reads after",
    own: "redis",
    env: TIMEOUTS,
    async fault({ api, redis }) {
      await sleep(1500);
      redis.process.kill("SIGSTOP");
      await sleep(2500);
      assert.notEqual(await circuitOf(api.url, "hot"), "closed", "the hot circuit leaves closed while Redis is paused");
      assert.notEqual(await metricCircuit(api.url, "hot"), 0);
      await sleep(2500);
      redis.process.kill("SIGCONT");
      await sleep(3000);
      return async (result) => {
        await sleep(1500);
        assert.equal(await circuitOf(api.url, "hot"), "closed", "closed again after Redis resumes");
        assert.ok(
          result.maxLatencyMs < 3000,
          `slowest request ${Math.round(result.maxLatencyMs)} ms (store timeout 500 ms)`,
        );
        assert.equal(result.ambiguous, 0);
      };
    },
  },
  {
    name: "PostgreSQL stopped and restarted: writes get 503 meanwhile, never a silent loss",
    own: "postgres",
    env: PG_TIMEOUTS,
    async fault({ api, pg, load }) {
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
      return async (result) => {
        assert.equal((await fetch(`${api.url}/api/ready`)).status, 200);
        assert.equal(await circuitOf(api.url, "warm"), "closed", "and closes once it answers");
        assert.equal(await metricCircuit(api.url, "warm"), 0);
        assert.ok(
          [...result.acknowledged.values()].reduce((a, b) => a + b) > [...before].reduce((a, [, b]) => a + b, 0),
          "writes resumed",
        );
      };
    },
  },
  {
    name: "PostgreSQL stopped and restarted under a namespace that buffers: writes answered 202, all in warm afterwards",
    own: "postgres",
    // `drafts` (a declared namespace) buffers as `sessions` does; sessions are written only by the agents.
    env: { ...PG_TIMEOUTS, STATEHOUSE_NAMESPACES: path.join(import.meta.dirname, "../fixtures/namespaces-open.ts") },
    namespace: "drafts",
    async fault({ pg, load }) {
      await sleep(1500);
      pg.stop("immediate");
      await sleep(3000);
      assert.ok(load.result.buffered > 0, "writes were buffered (202) while PostgreSQL was down");
      pg.start();
      await sleep(4000);
      return async () => {
        await sleep(2000); // the journal replays every second
      };
    },
  },
  {
    name: "a Redis Cluster master killed under load changes nothing acknowledged",
    own: "redis-cluster",
    env: TIMEOUTS,
    // With no replica the killed master's slots stay down: the counts and versions are held, not which tier answers.
    hotFirst: false,
    async fault({ api, cluster }) {
      const ready = (await (await fetch(`${api.url}/api/ready`)).json()) as { stores: { backend: string }[] };
      assert.equal(ready.stores[0]!.backend, "redis");
      await sleep(1500);
      await cluster.nodes[2]!.stop();
      await sleep(5000);
      return async (result) => {
        assert.ok([...result.acknowledged.values()].every((n) => n > 0));
      };
    },
  },
  {
    name: "an app instance killed with SIGKILL mid-load while another goes on",
    instances: 2,
    clients: 10,
    ambiguous: true,
    async fault(run) {
      await sleep(2000);
      run.others[0]!.process.kill("SIGKILL");
      run.urls = [run.api.url];
      await sleep(2500);
      return async (result) => {
        assert.ok(result.acknowledged.get("c0")! > 0);
      };
    },
  },
];

/**
 * Three instances and `clients` clients incrementing ten keys (`<keyPrefix>0` to `<keyPrefix>9`) for `loadMs`,
 * nothing broken: runScenario checks that every final count is exact, then `check` runs on the load's result.
 */
function fleet(
  name: string,
  o: { own?: Scenario["own"]; keyPrefix: string; clients: number; loadMs: number; check?(result: LoadResult): void },
): Scenario {
  return {
    name,
    own: o.own,
    instances: 3,
    keys: Array.from({ length: 10 }, (_, i) => `${o.keyPrefix}${i}`),
    clients: o.clients,
    async fault() {
      await sleep(o.loadMs);
      return o.check && (async (result) => o.check!(result));
    },
  };
}

const FLEETS: Scenario[] = [
  fleet("three instances on a 3-master Redis Cluster: exact final counts", {
    own: "redis-cluster",
    keyPrefix: "cl",
    clients: 30,
    loadMs: 5000,
  }),
  fleet("three instances, 50 clients incrementing 10 keys through all of them: exact final counts", {
    keyPrefix: "n",
    clients: 50,
    loadMs: 6000,
    check(result) {
      assert.equal(result.ambiguous, 0);
      assert.ok([...result.acknowledged.values()].every((n) => n > 0));
    },
  }),
];

describe("chaos: stores fail under load", () => {
  for (const scenario of FAULTS) it(scenario.name, { timeout: 120_000 }, () => runScenario(scenario));
});

describe("several instances on one Redis and PostgreSQL", () => {
  for (const scenario of FLEETS) it(scenario.name, { timeout: 120_000 }, () => runScenario(scenario));
});
