// The bench harness: each scenario runs its variants (Statehouse and its baseline) in the same process
// and run, alternating in slices so machine noise hits every variant alike, and reports throughput,
// p50/p99, ratios against targets, and correctness checks (a failed check fails the run).
import type pg from "pg";
import { PostgresStore } from "../server/state/postgres";
import { RedisStore } from "../server/state/redis";
import { TieredStore } from "../server/state/tiered";
import type { StateStore } from "../server/state/store";
import { instrumented } from "../server/telemetry/instrumented";
import { startTelemetry } from "../server/telemetry/start";
import { createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from "../test/helpers/services";
import { randomBytes } from "node:crypto";
import { loadConfig } from "../server/config";
import { buildServices, type Services } from "../server/container";

/** BENCH_QUICK=1: seconds, for CI; otherwise the full mode (minutes). */
export const QUICK = process.env.BENCH_QUICK === "1";
export const SLICE_MS = Number(process.env.BENCH_SLICE_MS ?? (QUICK ? 300 : 2000));
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 2 : 6));

export interface Result {
  scenario: string;
  variant: string;
  concurrency: number;
  opsPerSec: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

/** Statehouse's throughput over a baseline's; `target` is the bar (met when value ≥ target, or ≤ for "max"). */
export interface Ratio {
  name: string;
  value: number;
  target?: number;
  direction?: "min" | "max";
  met?: boolean;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface ScenarioReport {
  results: Result[];
  ratios?: Ratio[];
  checks?: Check[];
  /** Measurements that are not throughput (bytes, conflict rates), shown under the tables. */
  notes?: string[];
  extra?: Record<string, unknown>;
}

/** One file in bench/scenarios/ exports one of these; bench/scenarios/index.ts lists them. */
export interface Scenario {
  name: string;
  run(ctx: BenchContext): Promise<ScenarioReport>;
}

export interface Variant {
  name: string;
  op: (i: number) => Promise<unknown>;
  /** Runs before each of this variant's slices, untimed (e.g. evicting a cache so reads miss). */
  beforeSlice?: () => Promise<void>;
}

export interface BenchContext {
  quick: boolean;
  db: TestDatabase;
  redis: TestRedis;
  /** A pg pool on the bench database, for raw baselines. */
  pool: pg.Pool;
  /** The tiered engine over Redis + PostgreSQL, with telemetry off and on (as the server wires it), built once. */
  engines(): Promise<{ off: TieredStore; on: StateStore }>;
  /** Registers cleanup that runs when the bench ends, newest first. */
  defer(fn: () => Promise<unknown> | unknown): void;
}

/** Runs `concurrency` loops of `op` for `ms`, returning the latencies of completed ops. */
async function slice(
  op: (i: number) => Promise<unknown>,
  concurrency: number,
  ms: number,
  counter: { n: number },
): Promise<number[]> {
  const latencies: number[] = [];
  const end = performance.now() + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await op(counter.n++);
        latencies.push(performance.now() - t);
      }
    }),
  );
  return latencies;
}

export function quantile(xs: number[], q: number): number | null {
  if (xs.length === 0) return null;
  const s = Float64Array.from(xs).sort();
  return round3(s[Math.min(s.length - 1, Math.floor(q * s.length))]!);
}

export const round3 = (n: number) => Math.round(n * 1000) / 1000;

/** Runs the variants side by side: a warm-up, then ROUNDS rounds of one slice each, the order reversed every other round. */
export async function compare(
  scenario: string,
  concurrency: number,
  variants: Variant[],
  options: { sliceMs?: number; rounds?: number } = {},
): Promise<Result[]> {
  const sliceMs = options.sliceMs ?? SLICE_MS;
  const rounds = options.rounds ?? ROUNDS;
  const acc = new Map(variants.map((v) => [v.name, { ops: 0, ms: 0, latencies: [] as number[], counter: { n: 0 } }]));
  for (const v of variants) {
    await v.beforeSlice?.();
    await slice(v.op, concurrency, Math.min(150, sliceMs), acc.get(v.name)!.counter);
  }
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 ? [...variants].reverse() : variants;
    for (const v of order) {
      await v.beforeSlice?.();
      const a = acc.get(v.name)!;
      const started = performance.now();
      const latencies = await slice(v.op, concurrency, sliceMs, a.counter);
      a.ms += performance.now() - started; // the real elapsed time: in-flight ops finish after the deadline
      a.ops += latencies.length;
      for (const l of latencies) a.latencies.push(l);
    }
  }
  const results = variants.map((v) => {
    const a = acc.get(v.name)!;
    return {
      scenario,
      variant: v.name,
      concurrency,
      opsPerSec: Math.round((a.ops * 1000) / a.ms),
      p50Ms: quantile(a.latencies, 0.5),
      p99Ms: quantile(a.latencies, 0.99),
    };
  });
  for (const r of results)
    console.error(
      `  ${scenario} c${concurrency} ${r.variant}: ${r.opsPerSec} ops/s p50 ${r.p50Ms} ms p99 ${r.p99Ms} ms`,
    );
  return results;
}

/** a's throughput over b's in `results` (same scenario and concurrency), as a Ratio against `target`. */
export function ratio(
  results: Result[],
  name: string,
  scenario: string,
  concurrency: number,
  a: string,
  b: string,
  target?: number,
  direction: "min" | "max" = "min",
): Ratio {
  const find = (variant: string) =>
    results.find((r) => r.scenario === scenario && r.concurrency === concurrency && r.variant === variant);
  const x = find(a);
  const y = find(b);
  if (!x || !y) throw new Error(`bench: no result for ${scenario} c${concurrency} ${!x ? a : b}`);
  return withTarget({ name, value: round3(x.opsPerSec / y.opsPerSec), target, direction });
}

export function withTarget(r: Ratio): Ratio {
  if (r.target === undefined) return r;
  return { ...r, met: (r.direction ?? "min") === "min" ? r.value >= r.target : r.value <= r.target };
}

/** The tiered engine as the server wires it (server/container.ts): telemetry off, and on through the server's own start. */
export async function buildEngines(
  ctx: Pick<BenchContext, "db" | "redis" | "defer">,
): Promise<{ off: TieredStore; on: StateStore }> {
  const build = async (telemetry: boolean) => {
    const hot = await RedisStore.fromUrl(ctx.redis.url, { keyPrefix: ctx.redis.prefix });
    const warm = await PostgresStore.open({ url: ctx.db.url });
    if (!telemetry) return new TieredStore({ hot, warm, durabilityOf: () => "durable" });
    // startTelemetry() as server/main.ts calls it (NodeSDK, the Prometheus and time-series readers over the
    // fast instruments); spans per operation only when traces are exported, as server/container.ts does.
    const t = startTelemetry();
    ctx.defer(() => t.shutdown());
    const m = <S extends StateStore>(s: S, tier: "hot" | "warm" | "tiered") =>
      instrumented(s, {
        tier,
        instruments: t.instruments,
        tracer: t.tracesExported ? t.tracer : undefined,
        namespaceLabel: (n) => n,
      });
    return m(new TieredStore({ hot: m(hot, "hot"), warm: m(warm, "warm"), durabilityOf: () => "durable" }), "tiered");
  };
  const off = (await build(false)) as TieredStore;
  const on = await build(true);
  ctx.defer(() => Promise.allSettled([off.close(), on.close()]));
  return { off, on };
}

/**
 * The whole server's services (server/container.ts) on a fresh database and Redis prefix, limits out of
 * the way and the outbox relay off, for scenarios that measure a service end to end; `close` drops both.
 */
export async function startBenchServices(): Promise<{ services: Services; close(): Promise<void> }> {
  const db = await createTestDatabase();
  const redis = createTestRedis();
  const services = await buildServices(
    loadConfig({
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      STATEHOUSE_KEY_PREFIX: redis.prefix.slice(0, 32),
      STATEHOUSE_DATA_DIR: `/tmp/${redis.prefix.slice(0, -1)}`,
      STATEHOUSE_ADMIN_TOKEN: `bench-${randomBytes(12).toString("hex")}`,
      STATEHOUSE_OUTBOX_RELAY: "off",
      STATEHOUSE_RATE_LIMIT_RPS: "1000000",
      STATEHOUSE_RATE_LIMIT_BURST: "1000000",
    }),
  );
  return {
    services,
    async close() {
      await services.close();
      await db.drop().catch(() => {});
      await redis.cleanup().catch(() => {});
    },
  };
}
