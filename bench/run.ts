// npm run bench – throughput and latency of the engine's hot paths, each side by side with its raw
// baseline and with telemetry on vs off, measured in the same process and run, alternating in slices so
// machine noise hits every variant alike. Writes bench/results/latest.json and latest.md.
// BENCH_QUICK=1: short slices (CI); otherwise the full mode.
import { mkdir, writeFile } from "node:fs/promises";
import { Redis } from "ioredis";
import pg from "pg";
import { AggregationTemporality, MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { PostgresStore } from "../server/state/postgres";
import { RedisStore } from "../server/state/redis";
import { TieredStore } from "../server/state/tiered";
import type { StateStore } from "../server/state/store";
import { FastMetrics } from "../server/telemetry/fast-metrics";
import { createFastInstruments } from "../server/telemetry/instruments";
import { instrumented } from "../server/telemetry/instrumented";
import { TimeSeriesStore } from "../server/telemetry/time-series";
import { createTestDatabase, createTestRedis } from "../test/helpers/services";

const QUICK = process.env.BENCH_QUICK === "1";
const SLICE_MS = QUICK ? 400 : 2000;
const ROUNDS = QUICK ? 3 : 6;

interface Variant {
  name: string;
  op: (i: number) => Promise<unknown>;
}

interface Result {
  scenario: string;
  variant: string;
  concurrency: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

/** Runs `concurrency` loops of `op` for `ms`, returning completed ops and their latencies. */
async function slice(op: (i: number) => Promise<unknown>, concurrency: number, ms: number): Promise<{ ops: number; latencies: number[] }> {
  const latencies: number[] = [];
  const end = performance.now() + ms;
  let n = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await op(n++);
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { ops: latencies.length, latencies };
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
};

async function compare(scenario: string, concurrency: number, variants: Variant[]): Promise<Result[]> {
  const acc = new Map(variants.map((v) => [v.name, { ops: 0, ms: 0, latencies: [] as number[] }]));
  for (const v of variants) await slice(v.op, concurrency, 150); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? [...variants].reverse() : variants; // alternate so no variant always goes first
    for (const v of order) {
      const r = await slice(v.op, concurrency, SLICE_MS);
      const a = acc.get(v.name)!;
      a.ops += r.ops;
      a.ms += SLICE_MS;
      for (const l of r.latencies) a.latencies.push(l);
    }
  }
  return variants.map((v) => {
    const a = acc.get(v.name)!;
    return { scenario, variant: v.name, concurrency, opsPerSec: Math.round((a.ops * 1000) / a.ms), p50Ms: round3(quantile(a.latencies, 0.5)), p99Ms: round3(quantile(a.latencies, 0.99)) };
  });
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;

async function main(): Promise<void> {
  const db = await createTestDatabase();
  const redis = createTestRedis();
  const results: Result[] = [];
  const checks: { name: string; ok: boolean; detail: string }[] = [];
  const stores: StateStore[] = [];
  const meterProviders: MeterProvider[] = [];
  const raw = new Redis(redis.url);
  const pool = new pg.Pool({ connectionString: db.url, max: 16 });
  try {
    const build = async (telemetry: boolean) => {
      const hot = await RedisStore.fromUrl(redis.url, { keyPrefix: redis.prefix });
      const warm = await PostgresStore.open({ url: db.url });
      if (!telemetry) return new TieredStore({ hot, warm, durabilityOf: () => "durable" });
      // The same providers the server runs: Prometheus pull exporter + the time-series reader; spans not recorded.
      // Exactly what the server wires (server/telemetry/start.ts): fast instruments read by the Prometheus
      // exporter and the time-series reader; no spans per operation unless traces are exported.
      const fast = new FastMetrics({ name: "statehouse" });
      meterProviders.push(
        new MeterProvider({
          readers: [
            new PrometheusExporter({ preventServerStart: true, metricProducers: [fast.producer(AggregationTemporality.CUMULATIVE)] }),
            new PeriodicExportingMetricReader({ exporter: new TimeSeriesStore(), exportIntervalMillis: 10_000, metricProducers: [fast.producer(AggregationTemporality.DELTA)] }),
          ],
        }),
      );
      const instruments = createFastInstruments(fast);
      const m = <S extends StateStore>(s: S, tier: "hot" | "warm" | "tiered") => instrumented(s, { tier, instruments, namespaceLabel: (n) => n });
      return m(new TieredStore({ hot: m(hot, "hot"), warm: m(warm, "warm"), durabilityOf: () => "durable" }), "tiered");
    };
    const off = await build(false);
    const on = await build(true);
    stores.push(off, on);

    for (const size of [1024, 64 * 1024]) {
      const value = { blob: "v".repeat(size - 12) };
      const ref = { tenant: "bench", namespace: "kv", key: `hot-${size}` };
      const rec = await on.put(ref, value);
      await off.get(ref);
      const rawKey = `${redis.prefix}raw-${size}`;
      await raw.set(rawKey, JSON.stringify(rec.value));
      for (const concurrency of [1, 64]) {
        results.push(
          ...(await compare(`hot read hit ${size / 1024} KiB`, concurrency, [
            { name: "raw ioredis GET", op: async () => JSON.parse((await raw.get(rawKey))!) },
            { name: "statehouse (telemetry off)", op: () => off.get(ref) },
            { name: "statehouse (telemetry on)", op: () => on.get(ref) },
          ])),
        );
      }
    }

    // Durable compare-and-set writes vs a raw single-statement versioned UPDATE through pg.
    await pool.query("CREATE TABLE bench_raw (id text PRIMARY KEY, value json NOT NULL, version int NOT NULL)");
    await pool.query("INSERT INTO bench_raw VALUES ('k', '{}', 1)");
    let rawVersion = 1;
    const writeRef = { tenant: "bench", namespace: "kv", key: "durable" };
    let version = (await on.put(writeRef, { n: 0 })).version;
    results.push(
      ...(await compare("durable compare-and-set write", 1, [
        {
          name: "raw pg versioned UPDATE",
          op: async (i) => {
            const r = await pool.query("UPDATE bench_raw SET value = $1, version = version + 1 WHERE id = 'k' AND version = $2 RETURNING version", [JSON.stringify({ n: i }), rawVersion]);
            rawVersion = r.rows[0].version;
          },
        },
        { name: "statehouse (telemetry off)", op: async (i) => void (version = (await off.put(writeRef, { n: i }, { ifVersion: version })).version) },
        { name: "statehouse (telemetry on)", op: async (i) => void (version = (await on.put(writeRef, { n: i }, { ifVersion: version })).version) },
      ])),
    );

    // 32 writers contending on one key: successful writes/s, conflict rate, exact final value.
    const counterRef = { tenant: "bench", namespace: "kv", key: "contended" };
    await on.put(counterRef, { count: 0 });
    let successes = 0;
    let conflicts = 0;
    const started = performance.now();
    const deadline = started + (QUICK ? 2000 : 8000);
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (performance.now() < deadline) {
          const cur = (await on.get(counterRef, { consistency: "strong" }))!;
          try {
            await on.put(counterRef, { count: (cur.value as { count: number }).count + 1 }, { ifVersion: cur.version });
            successes++;
          } catch (err) {
            if ((err as { code?: string }).code !== "version_conflict") throw err;
            conflicts++;
          }
        }
      }),
    );
    const elapsed = (performance.now() - started) / 1000;
    const final = (await on.get(counterRef, { consistency: "strong" }))!.value as { count: number };
    checks.push({ name: "contended counter ends at exactly the number of successful writes", ok: final.count === successes, detail: `${final.count} vs ${successes}` });
    results.push({ scenario: "32 writers on one key", variant: "statehouse (telemetry on)", concurrency: 32, opsPerSec: Math.round(successes / elapsed), p50Ms: Number.NaN, p99Ms: Number.NaN });

    const ratio = (scenario: string, concurrency: number, a: string, b: string) => {
      const x = results.find((r) => r.scenario === scenario && r.concurrency === concurrency && r.variant === a)!;
      const y = results.find((r) => r.scenario === scenario && r.concurrency === concurrency && r.variant === b)!;
      return Math.round((x.opsPerSec / y.opsPerSec) * 1000) / 1000;
    };
    const ratios = {
      "hot read hit 1 KiB c64 / raw ioredis GET": ratio("hot read hit 1 KiB", 64, "statehouse (telemetry on)", "raw ioredis GET"),
      "hot read hit 64 KiB c64 / raw ioredis GET": ratio("hot read hit 64 KiB", 64, "statehouse (telemetry on)", "raw ioredis GET"),
      "durable write / raw pg versioned UPDATE": ratio("durable compare-and-set write", 1, "statehouse (telemetry on)", "raw pg versioned UPDATE"),
      "telemetry on / off (hot read 1 KiB c64)": ratio("hot read hit 1 KiB", 64, "statehouse (telemetry on)", "statehouse (telemetry off)"),
      "telemetry on / off (hot read 1 KiB c1)": ratio("hot read hit 1 KiB", 1, "statehouse (telemetry on)", "statehouse (telemetry off)"),
      "telemetry on / off (durable write)": ratio("durable compare-and-set write", 1, "statehouse (telemetry on)", "statehouse (telemetry off)"),
    };
    const contention = { successesPerSec: Math.round(successes / elapsed), conflictRate: Math.round((conflicts / (successes + conflicts)) * 1000) / 1000, finalCount: final.count };

    const report = { mode: QUICK ? "quick" : "full", at: new Date().toISOString(), machine: `${process.platform} ${process.arch}, node ${process.version}`, sliceMs: SLICE_MS, rounds: ROUNDS, results, ratios, contention, checks };
    await mkdir(new URL("./results/", import.meta.url), { recursive: true });
    await writeFile(new URL("./results/latest.json", import.meta.url), `${JSON.stringify(report, null, 2)}\n`);
    const md = [
      `| scenario | concurrency | variant | ops/s | p50 ms | p99 ms |`,
      `|---|---|---|---|---|---|`,
      ...results.map((r) => `| ${r.scenario} | ${r.concurrency} | ${r.variant} | ${r.opsPerSec} | ${Number.isNaN(r.p50Ms) ? "" : r.p50Ms} | ${Number.isNaN(r.p99Ms) ? "" : r.p99Ms} |`),
      "",
      `| ratio | value |`,
      `|---|---|`,
      ...Object.entries(ratios).map(([k, v]) => `| ${k} | ${v} |`),
      "",
      `Contention (32 writers, one key): ${contention.successesPerSec} successful writes/s, conflict rate ${contention.conflictRate}, final count ${contention.finalCount}.`,
    ].join("\n");
    await writeFile(new URL("./results/latest.md", import.meta.url), `${md}\n`);
    console.log(md);
    for (const c of checks) console.log(`${c.ok ? "ok" : "FAILED"}: ${c.name} (${c.detail})`);
    if (checks.some((c) => !c.ok)) process.exitCode = 1;
  } finally {
    raw.disconnect();
    await pool.end();
    await Promise.allSettled([...stores.map((s) => s.close()), ...meterProviders.map((p) => p.shutdown())]);
    await db.drop();
    await redis.cleanup();
  }
}

await main();
