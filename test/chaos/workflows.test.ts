// Workflow runs through a PostgreSQL outage (a server of the test's own, stopped with `-m immediate`
// mid-run and started again): no new run is acknowledged while it is down (503), and every run that
// was acknowledged finishes afterwards with the result of an uninterrupted run; steps checkpointed
// before the outage never run again, and a step that ran twice ran with one idempotency key.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, describe, it } from "node:test";
import type { RunView } from "../../server/workflows/service";
import { type ApiFixture, startApi, workflowEnv } from "../helpers/api";
import { sleep } from "../helpers/load";
import { startOwnPostgres } from "../helpers/own-postgres";
import { until } from "../helpers/until";

function expectedPlan(seed: string, steps: number): { steps: number; digest: string } {
  let digest = "";
  for (let n = 1; n <= steps; n++)
    digest = createHash("sha256").update(`${seed}|${n}|${digest}`).digest("hex").slice(0, 16);
  return { steps, digest };
}

describe("workflows through a PostgreSQL outage", () => {
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it("runs acknowledged before the outage all finish after it; none is acknowledged during it", {
    timeout: 120_000,
  }, async (t) => {
    const pg = await startOwnPostgres();
    cleanups.push(() => pg.destroy());
    const api: ApiFixture = await startApi({
      DATABASE_URL: pg.url,
      STATEHOUSE_STORE_TIMEOUT_MS: "800",
      STATEHOUSE_BREAKER_OPEN_MS: "1000",
      ...workflowEnv({ workers: 2, leaseMs: 2000, pollMs: 50, scanMs: 500, effectsLog: true }),
    });
    cleanups.push(() => api.close());
    const { key } = await api.clientFor("chaos", ["workflows:run"]);
    const start = (input: Record<string, unknown>) =>
      api.call("/api/v1/workflows", {
        method: "POST",
        key,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ type: "plan", input }),
      });
    const status = async (runId: string) =>
      (await (await api.call(`/api/v1/workflows/${runId}`, { key })).json()) as RunView;

    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await start({ steps: 8, seed: `c${i}`, slowMs: 300, effectsLog: "outage" });
      assert.equal(res.status, 202);
      ids.push(((await res.json()) as { runId: string }).runId);
    }
    await until(
      async () => ((await Promise.all(ids.map(status))).some((r) => r.completedSteps >= 2) ? true : undefined),
      "progress before the outage",
    );
    const beforeOutage = await Promise.all(ids.map(status));
    pg.stop("immediate");
    await sleep(500);
    const refused = await start({ steps: 1 });
    assert.equal(refused.status, 503, "no run is acknowledged without the source of truth");
    assert.ok(refused.headers.get("retry-after"));
    await sleep(2500);
    pg.start();

    const done = await until(
      async () => {
        const runs = await Promise.all(ids.map((id) => status(id).catch(() => undefined)));
        return runs.every((r) => r?.status === "succeeded") ? (runs as RunView[]) : undefined;
      },
      "every run to finish after the outage",
      60_000,
      200,
    );

    // The outage hit work in progress. Whether a run was resumed by another worker or finished by the
    // one that held it depends on when its lease lapsed relative to PostgreSQL's return: both are right.
    assert.ok(
      beforeOutage.some((r) => r.status !== "succeeded"),
      "runs were in flight when PostgreSQL stopped",
    );
    t.diagnostic(`resumes after the outage: ${done.map((r) => r.resumes).join(",")}`);
    const executed = (
      await readFile(path.join(api.env.STATEHOUSE_DATA_DIR!, "workflow-effects", "outage.jsonl"), "utf8")
    )
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { step: number; idempotencyKey: string });
    done.forEach((run, i) => {
      assert.deepEqual(run.result, expectedPlan(`c${i}`, 8));
      assert.deepEqual(
        run.checkpoints.map((c) => c.step),
        [1, 2, 3, 4, 5, 6, 7, 8],
        "each step checkpointed once",
      );
      for (let n = 1; n <= 8; n++) {
        const runs = executed.filter((e) => e.idempotencyKey === `${run.runId}:step-${n}`);
        assert.ok(runs.length >= 1, `step ${n} of ${run.runId} ran`);
        if (n <= beforeOutage[i]!.completedSteps)
          assert.equal(runs.length, 1, `step ${n} was checkpointed before the outage and never ran again`);
      }
    });
  });
});
