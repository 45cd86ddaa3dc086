import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";

const ROOT = path.resolve(import.meta.dirname, "../..");

// `BENCH_QUICK=1 npm run bench` as CI runs it: every scenario runs, the results file is written, and a
// failed correctness check (the contended counter's exact final value, every HTTP answer 2xx, every
// scenario ran) fails the run. Speed is reported, never asserted.
test("BENCH_QUICK=1 npm run bench runs every scenario, passes its checks and writes bench/results/latest.json", {
  timeout: 600_000,
}, async (t) => {
  const started = Date.now();
  const output: string[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn("npm", ["run", "bench"], {
      cwd: ROOT,
      env: { ...process.env, BENCH_QUICK: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.on("data", (c: Buffer) => output.push(c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => output.push(c.toString("utf8")));
    child.once("error", reject);
    child.once("exit", resolve);
  });
  const text = output.join("");
  for (const line of text.split("\n").filter((l) => /^(ok|FAILED):|^\| .*\| (yes|no) \|$/.test(l))) t.diagnostic(line);
  assert.equal(code, 0, `the bench failed:\n${text.slice(-6000)}`);
  const file = path.join(ROOT, "bench/results/latest.json");
  assert.ok((await stat(file)).mtimeMs >= started, "the results file was written by this run");
  const report = JSON.parse(await readFile(file, "utf8")) as {
    mode: string;
    results: { scenario: string; opsPerSec: number }[];
    checks: { ok: boolean }[];
    contention: { finalCount: number; successes: number };
  };
  assert.equal(report.mode, "quick");
  for (const scenario of [
    "hot read hit 1 KiB",
    "durable compare-and-set write",
    "warm read (miss, then promote) 1 KiB",
    "checkpointer getTuple latest (small thread)",
    "HTTP state GET 1 KiB",
    "HTTP agent turn",
  ]) {
    assert.ok(
      report.results.some((r) => r.scenario === scenario && r.opsPerSec > 0),
      `results for ${scenario}`,
    );
  }
  assert.ok(report.checks.length > 0 && report.checks.every((c) => c.ok));
  assert.equal(report.contention.finalCount, report.contention.successes);
  t.diagnostic(`quick bench took ${Math.round((Date.now() - started) / 1000)} s`);
});
