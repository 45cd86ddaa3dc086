// Redis paused (SIGSTOP) under mixed load, with the default settings: no request waits longer than
// 1 s — one hot timeout (250 ms) and then the warm tier's answer, never the rate limiter's timeout
// followed by the hot tier's — and every acknowledged write is there, at its version, afterwards.
// In test/solo/ because it asserts latency: it runs alone, with no other test file sharing the cores.
// The redis-server is the test's own (free port, stopped by its pid); the machine's Redis is not touched.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { startApi } from "../helpers/api";
import { readCounters, seedCounters, sleep, startIncrementLoad } from "../helpers/load";
import { startOwnRedis } from "../helpers/redis-server";

const COUNTERS = ["c0", "c1", "c2", "c3"];
const LIMIT_MS = 1000;

interface Timed {
  started: number;
  ms: number;
  status: number;
  what: string;
}

async function circuitOf(url: string, tier: string): Promise<string> {
  const body = (await (await fetch(`${url}/api/ready`)).json()) as { stores: { tier: string; circuit: string }[] };
  return body.stores.find((s) => s.tier === tier)!.circuit;
}

describe("Redis paused under load, default settings", () => {
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it("no request takes longer than 1 s, and nothing acknowledged is lost", { timeout: 180_000 }, async (t) => {
    const redis = await startOwnRedis();
    cleanups.push(() => redis.stop());
    const api = await startApi({ REDIS_URL: redis.url }); // no timeout or breaker overrides: the defaults
    cleanups.push(() => api.close());
    const { key } = await api.clientFor("paused");
    const auth = { authorization: `Bearer ${key}` };
    await seedCounters(api.url, key, COUNTERS);

    const timings: Timed[] = [];
    const timed = async (what: string, url: string, init: RequestInit = {}): Promise<Response> => {
      const started = performance.now();
      const res = await fetch(url, {
        ...init,
        headers: { ...auth, ...(init.headers as Record<string, string>) },
        signal: AbortSignal.timeout(30_000),
      });
      const body = await res.arrayBuffer(); // the whole answer, not just its headers
      timings.push({ started, ms: performance.now() - started, status: res.status, what });
      return new Response(res.status === 204 ? null : body, { status: res.status, headers: res.headers });
    };
    for (let i = 0; i < 20; i++) await timed("warm-up", `${api.url}/api/v1/state/kv/c0`); // JIT and caches, not measured below
    timings.length = 0;

    let running = true;
    // Blind writers: each creates keys of its own and reads back an earlier one; every 2xx is remembered.
    const acked = new Map<string, { version: number; value: { client: number; n: number } }>();
    let readMismatches = 0;
    const writer = async (client: number) => {
      for (let n = 0; running; n++) {
        const k = `w${client}-${n}`;
        const value = { client, n };
        try {
          const put = await timed("PUT", `${api.url}/api/v1/state/kv/${k}`, {
            method: "PUT",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ value }),
          });
          if (put.status === 201 || put.status === 200)
            acked.set(k, { version: Number(put.headers.get("etag")!.replaceAll('"', "")), value });
          const earlier = `w${client}-${Math.floor(Math.random() * (n + 1))}`;
          const get = await timed("GET", `${api.url}/api/v1/state/kv/${earlier}`);
          const expected = acked.get(earlier);
          if (expected && get.status === 404) readMismatches++;
          if (expected && get.status === 200) {
            const body = (await get.json()) as { version: number; value: unknown };
            if (body.version !== expected.version) readMismatches++;
          }
        } catch {
          await sleep(20);
        }
      }
    };
    // An idempotent writer: its replay records live in the hot tier, so while Redis is paused it may be
    // refused (503) — but fast, like everything else.
    const idempotent = async () => {
      for (let n = 0; running; n++) {
        await timed("PUT idempotent", `${api.url}/api/v1/state/kv/idem-${n}`, {
          method: "PUT",
          headers: { "content-type": "application/json", "idempotency-key": `idem-${n}` },
          body: JSON.stringify({ value: { n } }),
        }).catch(() => sleep(20));
      }
    };
    const counters = startIncrementLoad({ urls: () => [api.url], apiKey: key, keys: COUNTERS, clients: 4 });
    const workers = [...Array.from({ length: 4 }, (_, c) => writer(c)), idempotent()];

    await sleep(1500);
    const pausedAt = performance.now();
    redis.process.kill("SIGSTOP");
    await sleep(1500);
    assert.notEqual(await circuitOf(api.url, "hot"), "closed", "the hot circuit opened: Redis is really unreachable");
    await sleep(3500);
    const resumedAt = performance.now();
    redis.process.kill("SIGCONT");
    await sleep(3000);
    running = false;
    const incremented = await counters.stop();
    await Promise.all(workers);

    // Latency: every request, before, during and after the pause.
    const slowest = [...timings].sort((a, b) => b.ms - a.ms).slice(0, 5);
    const during = timings.filter((t) => t.started >= pausedAt && t.started < resumedAt);
    assert.ok(during.length >= 10, `requests were served while Redis was paused (${during.length})`);
    assert.ok(
      during.filter((t) => t.what === "GET" && t.status === 200).length > 0,
      "reads answered from warm meanwhile",
    );
    assert.ok(during.filter((t) => t.what === "PUT" && t.status < 300).length > 0, "writes acknowledged meanwhile");
    assert.ok(
      incremented.maxLatencyMs < LIMIT_MS,
      `compare-and-set load: slowest request ${Math.round(incremented.maxLatencyMs)} ms`,
    );
    const when = (r: Timed) => `${Math.round(r.started - pausedAt)} ms after the pause`;
    const report = slowest.map((r) => `${r.what} ${r.status} ${Math.round(r.ms)} ms, started ${when(r)}`).join("; ");
    t.diagnostic(`${timings.length} requests (${during.length} while paused); slowest: ${report}`);
    assert.ok(slowest[0]!.ms < LIMIT_MS, `slowest requests: ${report}`);
    assert.equal(
      timings.filter((t) => t.status >= 500 && t.what !== "PUT idempotent").length,
      0,
      "no 5xx for requests warm can serve",
    );
    assert.deepEqual(
      [...incremented.statuses.keys()].filter((s) => s >= 500),
      [],
      "none for the compare-and-set load either",
    );

    // Nothing acknowledged lost: after Redis resumes, every acknowledged write reads back at its version,
    // through the default (hot-first) read and the strong (warm) one.
    await sleep(1500); // hot copies that missed a write are repaired every second
    assert.equal(await circuitOf(api.url, "hot"), "closed", "closed again after Redis resumes");
    assert.equal(readMismatches, 0, "no read during the load missed or served an older version than one acknowledged");
    assert.ok(acked.size > 20, `writes acknowledged: ${acked.size}`);
    for (const [k, expected] of acked) {
      for (const query of ["", "?consistency=strong"]) {
        const res = await fetch(`${api.url}/api/v1/state/kv/${k}${query}`, { headers: auth });
        assert.equal(res.status, 200, `${k}${query}`);
        const body = (await res.json()) as { version: number; value: unknown };
        assert.equal(body.version, expected.version, `${k}${query}: the acknowledged version`);
        assert.deepEqual(body.value, expected.value, `${k}${query}: the acknowledged value`);
      }
    }
    const final = await readCounters(api.url, key, COUNTERS);
    for (const k of COUNTERS) {
      const c = final.get(k)!;
      assert.equal(incremented.ambiguous, 0);
      assert.equal(c.count, incremented.acknowledged.get(k), `${k}: every acknowledged increment, and only those`);
      assert.equal(c.version, c.count + 1, `${k}: one version per increment`);
      assert.equal(
        c.defaultVersion,
        c.version,
        `${k}: the hot-first read serves the latest version (tier ${c.defaultTier})`,
      );
    }
  });
});
