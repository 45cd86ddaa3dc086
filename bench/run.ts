// npm run bench – throughput and latency of Statehouse's paths, each side by side with its baseline in
// the same process and run (bench/harness.ts), for every scenario in bench/scenarios/index.ts. Writes
// bench/results/latest.json and bench/results/latest.md. BENCH_QUICK=1: seconds (CI); otherwise minutes.
// A failed correctness check (e.g. the contended counter's exact final value) exits non-zero.
import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import pg from "pg";
import {
  buildEngines,
  type BenchContext,
  type Check,
  QUICK,
  type Ratio,
  type Result,
  ROUNDS,
  SLICE_MS,
} from "./harness";
import { scenarios } from "./scenarios/index";
import { createTestDatabase, createTestRedis } from "../test/helpers/services";
import { PostgresStore } from "../server/state/postgres";

async function main(): Promise<void> {
  const db = await createTestDatabase();
  const redis = createTestRedis();
  await (await PostgresStore.open({ url: db.url })).close(); // applies the migrations before any scenario inserts rows
  const cleanups: (() => unknown)[] = [];
  const pool = new pg.Pool({ connectionString: db.url, max: 16 });
  let engines: ReturnType<typeof buildEngines> | undefined;
  const ctx: BenchContext = {
    quick: QUICK,
    db,
    redis,
    pool,
    engines: () => (engines ??= buildEngines(ctx)),
    defer: (fn) => void cleanups.push(fn),
  };
  const only = process.env.BENCH_ONLY?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const results: Result[] = [];
  const ratios: Ratio[] = [];
  const checks: Check[] = [];
  const notes: string[] = [];
  const extra: Record<string, unknown> = {};
  const started = Date.now();
  try {
    for (const scenario of scenarios) {
      if (only && !only.includes(scenario.name)) continue;
      console.error(`bench: ${scenario.name}`);
      try {
        const r = await scenario.run(ctx);
        results.push(...r.results);
        ratios.push(...(r.ratios ?? []));
        checks.push(...(r.checks ?? []));
        notes.push(...(r.notes ?? []));
        Object.assign(extra, r.extra ?? {});
      } catch (err) {
        // A scenario that cannot run is a failed check, not a silent gap in the table.
        checks.push({
          name: `${scenario.name} ran`,
          ok: false,
          detail: err instanceof Error ? (err.stack ?? err.message) : String(err),
        });
      }
    }
    const report = {
      mode: QUICK ? "quick" : "full",
      at: new Date().toISOString(),
      durationSec: Math.round((Date.now() - started) / 1000),
      machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${process.platform} ${process.arch}, node ${process.version}`,
      sliceMs: SLICE_MS,
      rounds: ROUNDS,
      results,
      ratios,
      checks,
      notes,
      ...extra,
    };
    await mkdir(new URL("./results/", import.meta.url), { recursive: true });
    // BENCH_OUT names the files (default "latest"); the README's table comes from a full run saved as "full".
    const out = (process.env.BENCH_OUT ?? "latest").replace(/[^a-z0-9_-]/gi, "");
    await writeFile(new URL(`./results/${out}.json`, import.meta.url), `${JSON.stringify(report, null, 2)}\n`);
    const md = markdown(report);
    await writeFile(new URL(`./results/${out}.md`, import.meta.url), md);
    console.log(md);
    for (const c of checks) console.log(`${c.ok ? "ok" : "FAILED"}: ${c.name} (${c.detail})`);
    if (checks.some((c) => !c.ok)) process.exitCode = 1;
  } finally {
    for (const fn of cleanups.reverse())
      await Promise.resolve()
        .then(fn)
        .catch(() => {});
    await pool.end();
    await db.drop();
    await redis.cleanup();
  }
}

function markdown(r: {
  mode: string;
  at: string;
  machine: string;
  sliceMs: number;
  rounds: number;
  results: Result[];
  ratios: Ratio[];
  notes: string[];
}): string {
  const cell = (n: number | null) => (n === null ? "" : String(n));
  return [
    `Mode ${r.mode} (${r.rounds} rounds of ${r.sliceMs} ms slices per variant, alternating), ${r.at}, ${r.machine}.`,
    "",
    "| scenario | concurrency | variant | ops/s | p50 ms | p99 ms |",
    "|---|---|---|---|---|---|",
    ...r.results.map(
      (x) =>
        `| ${x.scenario} | ${x.concurrency} | ${x.variant} | ${x.opsPerSec} | ${cell(x.p50Ms)} | ${cell(x.p99Ms)} |`,
    ),
    "",
    "| ratio | value | target | met |",
    "|---|---|---|---|",
    ...r.ratios.map(
      (x) =>
        `| ${x.name} | ${x.value} | ${x.target === undefined ? "" : `${x.direction === "max" ? "≤" : "≥"} ${x.target}`} | ${x.met === undefined ? "" : x.met ? "yes" : "no"} |`,
    ),
    "",
    ...r.notes.map((n) => `- ${n}`),
    "",
  ].join("\n");
}

await main();
