// Workflows over HTTP against a real server (PostgreSQL + Redis) running its in-app workers: start,
// status through every state, cancel at a step boundary, retries with backoff, idempotency, bad input
// that starts nothing, tenant isolation, the operators' routes and the metrics.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { loadConfig } from "../../server/config";
import { buildServices } from "../../server/container";
import { queuedRun, type RunView } from "../../server/workflows/service";
import { apiSuite, workflowEnv } from "../helpers/api";
import { until as poll } from "../helpers/until";

const PROBLEM = "application/problem+json";

type Run = RunView;

/** The plan workflow's result, computed independently: a chain of digests of the seed and step number. */
function expectedPlan(seed: string, steps: number): { steps: number; digest: string } {
  let digest = "";
  for (let n = 1; n <= steps; n++)
    digest = createHash("sha256").update(`${seed}|${n}|${digest}`).digest("hex").slice(0, 16);
  return { steps, digest };
}

async function problem(res: Response, status: number, code: string): Promise<Record<string, unknown>> {
  const body = (await res.json()) as Record<string, unknown>;
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status} ${JSON.stringify(body)}`);
  assert.equal(res.headers.get("content-type"), PROBLEM);
  assert.equal(body.code, code);
  return body;
}

describe("workflows over HTTP", () => {
  const suite = apiSuite({
    env: workflowEnv({ workers: 2, leaseMs: 3000, pollMs: 50, scanMs: 500, effectsLog: true }),
    keys: {
      key: { tenant: "acme", scopes: ["workflows:run"] },
      otherKey: { tenant: "globex", scopes: ["workflows:run"] },
    },
  });

  const start = (body: unknown, k = suite.key, headers: Record<string, string> = {}) =>
    suite.api.call("/api/v1/workflows", {
      method: "POST",
      key: k,
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  const status = async (runId: string, k = suite.key): Promise<Run> => {
    const res = await suite.api.call(`/api/v1/workflows/${runId}`, { key: k });
    assert.equal(res.status, 200);
    return (await res.json()) as Run;
  };
  const startOk = async (body: unknown): Promise<string> => {
    const res = await start(body);
    assert.equal(res.status, 202, await res.clone().text());
    const { runId, status: s } = (await res.json()) as { runId: string; status: string };
    assert.equal(s, "queued");
    assert.equal(res.headers.get("location"), `/api/v1/workflows/${runId}`);
    return runId;
  };
  /** Polls until the run satisfies `done`; collects every status seen on the way. */
  const until = async (
    runId: string,
    done: (r: Run) => boolean,
    timeoutMs = 30_000,
  ): Promise<{ run: Run; seen: string[] }> => {
    const seen: string[] = [];
    const run = await poll(
      async () => {
        const r = await status(runId);
        if (seen[seen.length - 1] !== r.status) seen.push(r.status);
        return done(r) ? r : undefined;
      },
      `run ${runId}`,
      timeoutMs,
      40,
    );
    return { run, seen };
  };
  const effects = async (name: string) =>
    (
      await readFile(path.join(suite.api.env.STATEHOUSE_DATA_DIR!, "workflow-effects", `${name}.jsonl`), "utf8").catch(
        () => "",
      )
    )
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { step: number; idempotencyKey: string; attempt: number });
  const runsOf = async (tenant: string) => {
    const res = await suite.api.call("/api/v1/admin/workflows?limit=500", { key: suite.api.adminToken });
    assert.equal(res.status, 200);
    return ((await res.json()) as { runs: { tenant: string; runId: string }[] }).runs.filter(
      (r) => r.tenant === tenant,
    );
  };

  it("runs a plan to the end: 202 queued, then running, then succeeded with every step checkpointed once", async () => {
    const runId = await startOk({ type: "plan", input: { steps: 5, seed: "a", slowMs: 150, effectsLog: "happy" } });
    const { run, seen } = await until(runId, (r) => r.status === "succeeded");
    assert.ok(seen.includes("running"), `saw ${seen.join(" → ")}`);
    assert.deepEqual(seen.slice(-1), ["succeeded"]);
    assert.equal(run.totalSteps, 5);
    assert.equal(run.completedSteps, 5);
    assert.equal(run.step, 5);
    assert.equal(run.progress, 1);
    assert.equal(run.attempts, 5);
    assert.equal(run.worker, null);
    assert.ok(run.finishedAt);
    assert.deepEqual(run.result, expectedPlan("a", 5));
    assert.deepEqual(
      run.checkpoints.map((c) => [c.step, c.name, c.attempt]),
      [1, 2, 3, 4, 5].map((n) => [n, `step ${n}`, 1]),
    );
    const executed = await effects("happy");
    assert.deepEqual(
      executed.map((e) => e.step),
      [1, 2, 3, 4, 5],
    );
    assert.deepEqual(
      executed.map((e) => e.idempotencyKey),
      [1, 2, 3, 4, 5].map((n) => `${runId}:step-${n}`),
    );
  });

  it("shows progress while running, and a cancel stops the run at the next step boundary", async () => {
    const runId = await startOk({ type: "plan", input: { steps: 6, slowMs: 600, effectsLog: "cancel" } });
    const { run: running } = await until(runId, (r) => r.status === "running" && r.completedSteps >= 2);
    assert.ok(running.progress > 0 && running.progress < 1);
    assert.equal(running.step, running.completedSteps + 1);
    assert.ok(running.worker, "a running run names its worker");
    const res = await suite.api.call(`/api/v1/workflows/${runId}/cancel`, { method: "POST", key: suite.key });
    assert.equal(res.status, 202);
    const cancelling = (await res.json()) as Run;
    assert.equal(cancelling.status, "cancelling");
    assert.equal(cancelling.cancelRequested, true);
    const { run, seen } = await until(runId, (r) => r.status === "cancelled");
    assert.deepEqual(seen.slice(-2), ["cancelling", "cancelled"]);
    // The step that was running when the cancel came finished and was kept; no step started after it.
    assert.ok(
      run.completedSteps >= cancelling.completedSteps && run.completedSteps <= cancelling.completedSteps + 1,
      JSON.stringify({ at: cancelling.completedSteps, end: run.completedSteps }),
    );
    assert.ok(run.completedSteps < 6);
    assert.equal(run.checkpoints.length, run.completedSteps);
    assert.equal(run.result, null);
    const executed = await effects("cancel");
    assert.deepEqual(
      executed.map((e) => e.step),
      Array.from({ length: run.completedSteps }, (_, i) => i + 1),
    );
    // Terminal states are final: a second cancel is refused and nothing changes.
    await problem(
      await suite.api.call(`/api/v1/workflows/${runId}/cancel`, { method: "POST", key: suite.key }),
      409,
      "workflow_finished",
    );
    await new Promise((r) => setTimeout(r, 700));
    const later = await status(runId);
    assert.equal(later.status, "cancelled");
    assert.equal(later.version, run.version);
  });

  it("retries a failing step with backoff and succeeds; fails the run after maxAttempts", async () => {
    const retried = await startOk({
      type: "plan",
      input: { steps: 3, seed: "r", failTimes: { "2": 2 }, effectsLog: "retry" },
    });
    const failing = await startOk({ type: "plan", input: { steps: 3, failTimes: { "2": 3 }, effectsLog: "fail" } });
    const { run: ok, seen } = await until(retried, (r) => r.status === "succeeded");
    assert.ok(seen.includes("queued"), `waits in queued between attempts: ${seen.join(" → ")}`);
    assert.deepEqual(ok.result, expectedPlan("r", 3));
    assert.deepEqual(
      ok.checkpoints.map((c) => c.attempt),
      [1, 3, 1],
    );
    assert.equal(ok.attempts, 5);
    const tries = (await effects("retry")).filter((e) => e.step === 2);
    assert.deepEqual(
      tries.map((e) => e.attempt),
      [1, 2, 3],
    );
    assert.equal(
      new Set(tries.map((e) => e.idempotencyKey)).size,
      1,
      "every attempt of a step gets the same idempotency key",
    );

    const { run: bad } = await until(failing, (r) => r.status === "failed");
    assert.equal(bad.error?.step, 2);
    assert.match(bad.error!.message, /failed on purpose \(attempt 3\)/);
    assert.equal(bad.completedSteps, 1);
    assert.equal(bad.stepAttempts, 3);
    assert.deepEqual(
      (await effects("fail")).map((e) => e.step),
      [1, 2, 2, 2],
    );
  });

  it("checkpoints every N steps where the input asks: one write per N steps, each carrying N checkpoints", async () => {
    const runId = await startOk({ type: "plan", input: { steps: 7, seed: "n", slowMs: 100, checkpointEvery: 3 } });
    const seenCompleted = new Set<number>();
    const { run } = await until(runId, (r) => {
      seenCompleted.add(r.completedSteps);
      return r.status === "succeeded";
    });
    assert.deepEqual(run.result, expectedPlan("n", 7));
    assert.deepEqual(
      run.checkpoints.map((c) => c.step),
      [1, 2, 3, 4, 5, 6, 7],
    );
    assert.ok(
      [...seenCompleted].every((n) => [0, 3, 6, 7].includes(n)),
      `progress moved in steps of 3: ${[...seenCompleted].join(",")}`,
    );
    const res = await suite.api.call(`/api/v1/admin/state/acme/workflows/${runId}/history?limit=1000`, {
      key: suite.api.adminToken,
    });
    const versions = ((await res.json()) as { versions: { value: { completedSteps: number } }[] }).versions.reverse();
    const writes = versions.map((v) => v.value.completedSteps).filter((n, i, all) => i === 0 || n !== all[i - 1]);
    assert.deepEqual(writes, [0, 3, 6, 7], "the checkpointed step count changed in exactly three writes");
  });

  it("analyses a document: chunks, entities and a summary per chunk, aggregated", async () => {
    const para = (i: number) =>
      `Meeting ${i} with Alice Johnson is set for 2025-03-14. Contact alice${i}@example.com about the budget of $4,500. ` +
      `The quarterly budget review covers hiring, travel and the new office lease. Bob Smith will prepare the budget slides.\n\n`;
    const document = Array.from({ length: 12 }, (_, i) => para(i)).join("");
    const runId = await startOk({ type: "document-analysis", input: { document, chunkChars: 800, title: "Minutes" } });
    const { run } = await until(runId, (r) => r.status === "succeeded");
    const chunks = run.totalSteps - 2;
    assert.ok(chunks >= 3, `the document was split into ${chunks} chunks`);
    assert.deepEqual([run.checkpoints[0]!.name, run.checkpoints.at(-1)!.name], ["split", "aggregate"]);
    const result = run.result as {
      title: string;
      chunks: number;
      chars: number;
      entities: Record<string, string[]>;
      summary: string[];
    };
    assert.equal(result.title, "Minutes");
    assert.equal(result.chunks, chunks);
    assert.equal(result.chars, document.length);
    // Entities come from every chunk: emails of several paragraphs, and the people named.
    assert.ok(
      (result.entities.email?.length ?? 0) >= 2 &&
        result.entities.email!.every((e) => /^alice\d+@example\.com$/.test(e)),
      JSON.stringify(result.entities),
    );
    assert.ok(result.entities.people?.includes("Bob Smith"), JSON.stringify(result.entities));
    assert.ok(result.entities.dates?.includes("2025-03-14"));
    assert.ok(
      result.summary.length >= 1 && result.summary.every((s) => document.includes(s)),
      "the summary is extractive",
    );
  });

  it("Idempotency-Key: a repeated start returns the same run; another body with the key is 409; one run exists", async () => {
    const headers = { "idempotency-key": "start-once-1" };
    const body = { type: "plan", input: { steps: 1, seed: "idem" } };
    const first = await start(body, suite.key, headers);
    assert.equal(first.status, 202);
    const again = await start(body, suite.key, headers);
    assert.equal(again.status, 202);
    assert.equal(again.headers.get("idempotent-replayed"), "true");
    const { runId } = (await first.json()) as { runId: string };
    assert.equal(((await again.json()) as { runId: string }).runId, runId);
    await problem(await start({ type: "plan", input: { steps: 2 } }, suite.key, headers), 409, "idempotency_conflict");
    await until(runId, (r) => r.status === "succeeded");
    const runs = await runsOf("acme");
    assert.equal(runs.filter((r) => r.runId === runId).length, 1);
    const before = runs.length;
    await start(body, suite.key, headers);
    assert.equal((await runsOf("acme")).length, before, "a replay starts nothing");
  });

  it("bad input gets a clear 4xx and starts nothing", async () => {
    const { key: badKey } = await suite.api.clientFor("badinput", ["workflows:run"]);
    const { key: readOnly } = await suite.api.clientFor("badinput", ["state:read"]);
    await problem(await start({ type: "no-such-type", input: {} }, badKey), 422, "unknown_workflow_type");
    await problem(await start({ type: "plan", input: { steps: 0 } }, badKey), 422, "invalid");
    await problem(await start({ type: "plan", input: { steps: "five" } }, badKey), 422, "invalid");
    await problem(await start({ type: "plan", input: { steps: 2, surprise: true } }, badKey), 422, "invalid");
    await problem(await start({ type: "plan", input: { effectsLog: "../../etc/passwd" } }, badKey), 422, "invalid");
    await problem(await start({ type: "document-analysis", input: {} }, badKey), 422, "invalid");
    const oversized = await problem(
      await start({ type: "document-analysis", input: { document: "word ".repeat(120_000) } }, badKey),
      413,
      "too_large",
    );
    assert.equal(oversized.limitBytes, 512 * 1024);
    await problem(await start({ input: {} }, badKey), 400, "malformed");
    await problem(await start("{not json", badKey), 400, "malformed");
    await problem(
      await suite.api.call("/api/v1/workflows", {
        method: "POST",
        key: badKey,
        headers: { "content-type": "text/plain" },
        body: "plan",
      }),
      415,
      "unsupported_media_type",
    );
    await problem(
      await start({ type: "plan", input: { seed: "x".repeat(6 * 1024 * 1024) } }, badKey),
      413,
      "body_too_large",
    );
    await problem(await start({ type: "plan", input: {} }, readOnly), 403, "forbidden");
    await problem(await start({ type: "plan", input: {} }, "shk_nope_nope"), 401, "unauthorized");
    // Hostile bodies and ids: always a 4xx problem, never a 5xx, and still nothing started.
    const junk: unknown[] = [
      null,
      [],
      42,
      "plan",
      { type: null },
      { type: 7 },
      { type: "plan", input: [] },
      { type: "plan", input: "x" },
      { type: "plan", input: { steps: 1e9 } },
      { type: "plan", input: { steps: 2, stepSlowMs: { "1": -5 } } },
      { type: "plan", input: { failTimes: { abc: 1 } } },
      { type: "document-analysis", input: { document: 5 } },
      { type: "document-analysis", input: { document: "x", chunkChars: 1 } },
      { type: "x".repeat(65) },
      { type: "plan", input: { steps: 3.5 } },
      { type: "__proto__", input: {} },
    ];
    for (const body of junk) {
      const res = await start(body, badKey);
      assert.ok(res.status >= 400 && res.status < 500, `${JSON.stringify(body)} → ${res.status}`);
      assert.equal(res.headers.get("content-type"), PROBLEM);
    }
    for (const id of ["%00", `run_${"a".repeat(200)}`, "..", "run_AAAAAAAAAAAAAAAAAAAA", "run_00000000000000000000"]) {
      for (const res of [
        await suite.api.call(`/api/v1/workflows/${id}`, { key: badKey }),
        await suite.api.call(`/api/v1/workflows/${id}/cancel`, { method: "POST", key: badKey }),
      ]) {
        assert.ok(res.status === 404 || res.status === 400, `${id} → ${res.status}`);
        assert.equal(res.headers.get("content-type"), PROBLEM);
      }
    }
    assert.deepEqual(await runsOf("badinput"), [], "nothing was started");
  });

  it("run records cannot be written through the state API; records from elsewhere (junk, corrupt input) fail cleanly, never run unchecked", async () => {
    const { key: stateKey } = await suite.api.clientFor("acme", ["workflows:run", "state:read", "state:write"]);
    const refused = await suite.api.call("/api/v1/state/workflows/not-a-run", {
      method: "PUT",
      key: stateKey,
      headers: { "content-type": "application/json", "if-none-match": "*" },
      body: JSON.stringify({ value: { status: "queued" } }),
    });
    await problem(refused, 403, "forbidden");
    // What the state API can no longer write can still be in the store: a corrupt record, or one an older
    // version wrote. Written here as another process of the deployment (no workers of its own) would.
    const direct = await buildServices(
      loadConfig({
        ...suite.api.env,
        STATEHOUSE_WORKFLOW_WORKERS: "0",
        STATEHOUSE_SWEEP_INTERVAL_MS: "0",
        STATEHOUSE_OUTBOX_RELAY: "off",
      }),
    );
    try {
      const ref = (k: string) => ({ tenant: "acme", namespace: "workflows", key: k });
      await direct.state.put(ref("not-a-run"), { status: "queued" }, { createOnly: true });
      const queued = (runId: string, type: string, input: unknown, totalSteps: number) =>
        queuedRun({ runId, type, input, totalSteps, maxAttempts: 3, createdAt: new Date().toISOString() });
      const badSchema = `run_${"b".repeat(20)}`;
      const tooLarge = `run_${"l".repeat(20)}`;
      const sparse = `run_${"d".repeat(20)}`;
      await direct.state.put(
        ref(badSchema),
        queued(badSchema, "plan", { steps: "many", effectsLog: "forged-input" }, 3),
        { createOnly: true },
      );
      await direct.state.put(
        ref(tooLarge),
        queued(tooLarge, "document-analysis", { document: "Long text. ".repeat(60_000), chunkChars: 200 }, 3),
        { createOnly: true },
      );
      // Only what the schema requires: the steps must see its defaults (seed "", no slowness, no failures).
      await direct.state.put(ref(sparse), queued(sparse, "plan", { steps: 2 }, 2), { createOnly: true });

      const failed = (await until(badSchema, (r) => r.status === "failed")).run;
      assert.match(failed.error!.message, /stored input is not valid for plan: invalid input for plan: input\.steps/);
      assert.deepEqual(await effects("forged-input"), [], "no step ran");
      const big = (await until(tooLarge, (r) => r.status === "failed")).run;
      assert.match(
        big.error!.message,
        /stored input is not valid for document-analysis: the document is \d+ bytes; at most 524288/,
        "the type's own check (checkInput), not only its schema",
      );
      assert.equal(big.completedSteps, 0);
      const ran = (await until(sparse, (r) => r.status === "succeeded")).run;
      assert.deepEqual(ran.result, expectedPlan("", 2), "the steps ran on the parsed input, defaults applied");

      // Corrupted while a worker holds it: the worker's next write conflicts, the lease still carries its
      // token, so it merges and goes on with the input it validated when it claimed the run.
      const slow = await startOk({ type: "plan", input: { steps: 3, slowMs: 400 } });
      await until(slow, (r) => r.status === "running");
      for (let tries = 0; ; tries++) {
        const stored = await direct.state.getOrThrow(ref(slow), { consistency: "strong" });
        try {
          await direct.state.put(
            ref(slow),
            { ...(stored.value as Record<string, unknown>), input: { steps: "many" } },
            { ifVersion: stored.version },
          );
          break;
        } catch (err) {
          assert.equal((err as { code?: string }).code, "version_conflict");
          assert.ok(tries < 20);
        }
      }
      const { run } = await until(slow, (r) => r.status === "succeeded");
      assert.deepEqual(run.result, expectedPlan("", 3));
    } finally {
      await direct.close();
    }
    await new Promise((r) => setTimeout(r, 1200)); // more than two recovery scans over the junk record
    const problems = suite.api.server.logs
      .join("")
      .split("\n")
      .filter((l) => (l.includes("could not take work") && l.includes("TypeError")) || l.includes('"level":"error"'));
    assert.deepEqual(problems, [], "no worker failed on the junk record");
    const other = await startOk({ type: "plan", input: { steps: 1 } });
    await until(other, (r) => r.status === "succeeded");
  });

  it("runs belong to the key's tenant: another tenant gets 404 and cannot cancel", async () => {
    const runId = await startOk({ type: "plan", input: { steps: 2, slowMs: 300 } });
    await problem(await suite.api.call(`/api/v1/workflows/${runId}`, { key: suite.otherKey }), 404, "not_found");
    await problem(
      await suite.api.call(`/api/v1/workflows/${runId}/cancel`, { method: "POST", key: suite.otherKey }),
      404,
      "not_found",
    );
    await problem(await suite.api.call(`/api/v1/workflows/not-a-run`, { key: suite.key }), 404, "not_found");
    const { run } = await until(runId, (r) => r.status === "succeeded");
    assert.equal(run.cancelRequested, false);
  });

  it("operators list every tenant's runs and see a run's checkpoints; metrics count runs and steps without run ids", async () => {
    const runId = await startOk({ type: "plan", input: { steps: 3 } });
    await until(runId, (r) => r.status === "succeeded");
    const list = await suite.api.call("/api/v1/admin/workflows?status=succeeded", { key: suite.api.adminToken });
    const { runs } = (await list.json()) as {
      runs: { tenant: string; runId: string; status: string; progress: number }[];
    };
    assert.ok(runs.some((r) => r.runId === runId && r.tenant === "acme" && r.progress === 1));
    assert.ok(runs.every((r) => r.status === "succeeded"));
    await problem(await suite.api.call("/api/v1/admin/workflows", { key: suite.key }), 403, "forbidden");
    const detail = await suite.api.call(`/api/v1/admin/workflows/acme/${runId}`, { key: suite.api.adminToken });
    const d = (await detail.json()) as Run & { tenant: string; input: unknown };
    assert.equal(d.checkpoints.length, 3);
    assert.equal((d.input as { steps: number }).steps, 3);

    const text = await (await suite.api.call("/metrics")).text();
    const series = (name: string) => text.split("\n").filter((l) => l.startsWith(`${name}{`));
    const runSeries = series("statehouse_workflow_runs_total");
    const count = (status: string) =>
      runSeries
        .filter((l) => l.includes(`status="${status}"`) && l.includes('type="plan"'))
        .map((l) => Number(l.split(" ").pop()))
        .reduce((a, b) => a + b, 0);
    assert.ok(count("succeeded") >= 5, runSeries.join("\n"));
    assert.ok(count("queued") >= 7, runSeries.join("\n"));
    assert.equal(count("cancelled"), 1, runSeries.join("\n"));
    assert.equal(count("failed"), 2, runSeries.join("\n")); // the retries test's, and the stored run whose input fails its check
    assert.match(text, /statehouse_workflow_step_duration_bucket\{[^}]*type="plan"/);
    assert.doesNotMatch(text, /run_[a-z0-9]{20}/, "no run id in metrics");
  });
});
