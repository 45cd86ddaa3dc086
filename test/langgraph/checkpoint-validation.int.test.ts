import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { createTestDatabase, createTestRedis } from "../helpers/services";

const ROOT = path.resolve(import.meta.dirname, "../..");
// The suite's size for one saver (718 in @langchain/langgraph-checkpoint-validation 1.1.1) plus the 8
// opt-in delta-channel tests: a different count means the suite changed under us, which should be looked at.
const EXPECTED_TESTS = 726;

interface VitestReport {
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  testResults: { assertionResults: { fullName: string; status: string; failureMessages: string[] }[] }[];
}

/** Runs one *.vitest.ts spec in its own vitest process over a fresh database and Redis prefix. */
async function runSuite(spec: string, t: { diagnostic(msg: string): void }): Promise<VitestReport> {
  const db = await createTestDatabase();
  const redis = createTestRedis();
  const dir = await mkdtemp(path.join(tmpdir(), "lg-validation-"));
  const reportFile = path.join(dir, "report.json");
  try {
    const output: string[] = [];
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          path.join(ROOT, "node_modules/vitest/vitest.mjs"),
          "run",
          "--config",
          "test/langgraph/vitest.config.ts",
          "--reporter=default",
          "--reporter=json",
          `--outputFile.json=${reportFile}`,
          spec,
        ],
        {
          cwd: ROOT,
          env: {
            ...process.env,
            DATABASE_URL: db.url,
            REDIS_URL: redis.url,
            STATEHOUSE_KEY_PREFIX: redis.prefix.slice(0, 32),
            NO_COLOR: "1",
            FORCE_COLOR: "0",
          },
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      child.stdout.on("data", (c: Buffer) => output.push(c.toString("utf8")));
      child.stderr.on("data", (c: Buffer) => output.push(c.toString("utf8")));
      child.once("error", reject);
      child.once("exit", resolve);
    });
    // vitest's own summary, visible in npm test's output.
    for (const line of output
      .join("")
      .split("\n")
      .filter((l) => /Test Files|Tests |✓|✗|×|FAIL|Error/.test(l))
      .slice(0, 40))
      t.diagnostic(`vitest: ${line.trim()}`);
    const report = JSON.parse(await readFile(reportFile, "utf8").catch(() => "null")) as VitestReport | null;
    assert.ok(report, `vitest wrote no report (exit ${code}):\n${output.join("").slice(-4000)}`);
    const failed = report.testResults.flatMap((f) => f.assertionResults.filter((a) => a.status === "failed"));
    for (const f of failed.slice(0, 10)) t.diagnostic(`failed: ${f.fullName}: ${f.failureMessages[0]?.split("\n")[0]}`);
    assert.equal(code, 0, `vitest exited with ${code}`);
    return report;
  } finally {
    await rm(dir, { recursive: true, force: true });
    await db.drop();
    await redis.cleanup();
  }
}

const SAVERS = [
  {
    title: "LangGraph's checkpoint-validation suite passes for StatehouseSaver (Redis + PostgreSQL engine)",
    saver: "StatehouseSaver",
    spec: "test/langgraph/statehouse-saver.vitest.ts",
  },
  {
    title: "the same suite passes for LangGraph's PostgresSaver (the reference) on the same PostgreSQL",
    saver: "PostgresSaver",
    spec: "test/langgraph/postgres-saver.vitest.ts",
  },
];

for (const { title, saver, spec } of SAVERS) {
  test(title, { timeout: 300_000 }, async (t) => {
    const r = await runSuite(spec, t);
    t.diagnostic(
      `${saver}: ${r.numPassedTests}/${r.numTotalTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped`,
    );
    assert.equal(r.numFailedTests, 0);
    assert.equal(r.numTotalTests, EXPECTED_TESTS);
    assert.equal(r.numPassedTests, EXPECTED_TESTS, "every test of the suite runs and passes (none skipped)");
  });
}
