// Workflow workers as real, separate processes (`npm run worker`) sharing the real PostgreSQL and Redis
// with an API server that runs no workers itself: a worker SIGKILLed mid-run is resumed from its last
// checkpoint by another; a worker paused past its lease gets its stale write refused and stops; 100
// runs across 3 workers each finish exactly once.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { type ApiFixture, startApi } from "../helpers/api";
import type { RunView } from "../../server/workflows/service";
import { until } from "../helpers/until";
import { startWorker, type WorkerProcess } from "../helpers/worker-process";

type Run = RunView;
type Checkpoint = RunView["checkpoints"][number];
interface Effect {
  step: number;
  idempotencyKey: string;
  attempt: number;
  pid: number;
}

function expectedPlan(seed: string, steps: number): { steps: number; digest: string } {
  let digest = "";
  for (let n = 1; n <= steps; n++)
    digest = createHash("sha256").update(`${seed}|${n}|${digest}`).digest("hex").slice(0, 16);
  return { steps, digest };
}

const LEASE_MS = 1500;
/** A worker id is host:pid:random; the pid says which process holds a lease. */
const pidOf = (workerId: string | null | undefined) => Number(workerId?.split(":").at(-2));

describe("workflow workers (separate processes)", () => {
  let api: ApiFixture;
  let key: string;
  let workers: WorkerProcess[] = [];
  const workerEnv = () => ({
    ...api.env,
    STATEHOUSE_WORKFLOW_WORKERS: "1",
    STATEHOUSE_WORKFLOW_LEASE_MS: String(LEASE_MS),
    STATEHOUSE_WORKFLOW_POLL_MS: "50",
    STATEHOUSE_WORKFLOW_SCAN_MS: "300",
  });
  const spawnWorkers = async (n: number) => {
    const started = await Promise.all(Array.from({ length: n }, () => startWorker(workerEnv())));
    workers.push(...started);
    return started;
  };

  before(async () => {
    api = await startApi({ STATEHOUSE_WORKFLOW_WORKERS: "0", STATEHOUSE_WORKFLOW_EFFECTS_LOG: "on" });
    ({ key } = await api.clientFor("acme", ["workflows:run"]));
  });
  afterEach(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    workers = [];
  });
  after(async () => {
    await api.close();
  });

  const startRun = async (input: Record<string, unknown>): Promise<string> => {
    const res = await api.call("/api/v1/workflows", {
      method: "POST",
      key,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ type: "plan", input }),
    });
    assert.equal(res.status, 202, await res.clone().text());
    return ((await res.json()) as { runId: string }).runId;
  };
  const status = async (runId: string): Promise<Run> => {
    const res = await api.call(`/api/v1/workflows/${runId}`, { key });
    assert.equal(res.status, 200);
    return (await res.json()) as Run;
  };
  const runUntil = (runId: string, done: (r: Run) => boolean, timeoutMs?: number) =>
    until(
      async () => {
        const r = await status(runId);
        return done(r) ? r : undefined;
      },
      `run ${runId}`,
      timeoutMs ?? 40_000,
    );
  const effects = async (name: string): Promise<Effect[]> =>
    (
      await readFile(path.join(api.env.STATEHOUSE_DATA_DIR!, "workflow-effects", `${name}.jsonl`), "utf8").catch(
        () => "",
      )
    )
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Effect);

  let queuedRunId = "";

  it("a run no worker holds is cancelled at once, and stays cancelled", async () => {
    queuedRunId = await startRun({ steps: 3 });
    const queued = await status(queuedRunId);
    assert.deepEqual([queued.status, queued.completedSteps, queued.worker], ["queued", 0, null]);
    const res = await api.call(`/api/v1/workflows/${queuedRunId}/cancel`, { method: "POST", key });
    assert.equal(res.status, 202);
    assert.equal(((await res.json()) as Run).status, "cancelled");
  });

  it("SIGKILL during step 15 of 20: a second worker resumes from the checkpoint; steps 1–14 ran once, step 15 at most twice with one idempotency key", async () => {
    const [first] = await spawnWorkers(1);
    const input = { steps: 20, seed: "crash", slowMs: 30, stepSlowMs: { "15": 2000 } };
    const runId = await startRun({ ...input, effectsLog: "crash" });
    // Kill the worker while step 15 is in progress (its side effect is recorded when the step begins).
    await until(
      async () => ((await effects("crash")).some((e) => e.step === 15) ? true : undefined),
      "step 15 to begin",
    );
    first!.process.kill("SIGKILL");
    const beforeKill = await status(runId);
    assert.equal(beforeKill.status, "running");
    assert.equal(beforeKill.completedSteps, 14);

    const [second] = await spawnWorkers(1);
    const done = await runUntil(runId, (r) => r.status === "succeeded");
    const resumed = await second!.waitFor("workflow run resumed from its last checkpoint", (e) => e.runId === runId);
    assert.equal(resumed.fromStep, 15);

    const executed = await effects("crash");
    const byStep = (n: number) => executed.filter((e) => e.step === n);
    for (let n = 1; n <= 14; n++)
      assert.deepEqual(
        byStep(n).map((e) => e.pid),
        [first!.pid],
        `step ${n} ran exactly once, in the first worker`,
      );
    const fifteen = byStep(15);
    assert.ok(fifteen.length >= 1 && fifteen.length <= 2, `step 15 ran ${fifteen.length} times`);
    assert.deepEqual(
      fifteen.map((e) => e.idempotencyKey),
      fifteen.map(() => `${runId}:step-15`),
    );
    assert.deepEqual(
      fifteen.map((e) => e.pid),
      [first!.pid, second!.pid],
    );
    assert.deepEqual(
      fifteen.map((e) => e.attempt),
      [1, 2],
      "the interrupted attempt counts",
    );
    for (let n = 16; n <= 20; n++)
      assert.deepEqual(
        byStep(n).map((e) => e.pid),
        [second!.pid],
        `step ${n} ran exactly once, in the second worker`,
      );

    assert.equal(done.resumes, 1);
    assert.deepEqual(
      done.checkpoints.map((c) => c.step),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    assert.ok(done.checkpoints.slice(0, 14).every((c) => pidOf(c.worker) === first!.pid));
    assert.ok(done.checkpoints.slice(14).every((c) => pidOf(c.worker) === second!.pid));

    // The same input run without interruption gives the same result.
    const clean = await startRun({ ...input, stepSlowMs: {}, effectsLog: "clean" });
    const uninterrupted = await runUntil(clean, (r) => r.status === "succeeded");
    assert.equal(uninterrupted.resumes, 0);
    assert.deepEqual(done.result, uninterrupted.result);
    assert.deepEqual(done.result, expectedPlan("crash", 20));
  });

  it("two workers racing: one owner at a time; the one paused past its lease gets its stale write refused and stops", async () => {
    const pair = await spawnWorkers(2);
    const runId = await startRun({ steps: 8, seed: "race", slowMs: 400, effectsLog: "race" });
    const running = await runUntil(runId, (r) => r.status === "running" && r.completedSteps >= 2 && r.worker !== null);
    const owner = pair.find((w) => w.pid === pidOf(running.worker))!;
    const other = pair.find((w) => w !== owner)!;
    assert.ok(owner, `the owner ${running.worker} is one of the two workers`);
    owner.process.kill("SIGSTOP");
    try {
      const pausedAt = Math.max(...(await effects("race")).filter((e) => e.pid === owner.pid).map((e) => e.step));
      // The other worker takes over once the lease has expired, and makes progress.
      const taken = await runUntil(runId, (r) => pidOf(r.worker) === other.pid && r.completedSteps >= pausedAt);
      assert.equal(taken.resumes, 1);
    } finally {
      owner.process.kill("SIGCONT");
    }
    const lost = await owner.waitFor(
      "workflow lease lost: another worker took over the run; this worker stops working on it",
      (e) => e.runId === runId,
    );
    assert.equal(typeof lost.token, "number");
    const done = await runUntil(runId, (r) => r.status === "succeeded");
    assert.deepEqual(done.result, expectedPlan("race", 8));

    // After its lease was taken the paused worker began no further step, and wrote no checkpoint.
    const executed = await effects("race");
    const ownerSteps = executed.filter((e) => e.pid === owner.pid).map((e) => e.step);
    const pausedStep = Math.max(...ownerSteps);
    assert.deepEqual(
      ownerSteps,
      Array.from({ length: pausedStep }, (_, i) => i + 1),
    );
    const byWorker = done.checkpoints.map((c) => pidOf(c.worker));
    const handover = byWorker.indexOf(other.pid);
    assert.ok(
      handover > 0 &&
        byWorker.slice(0, handover).every((p) => p === owner.pid) &&
        byWorker.slice(handover).every((p) => p === other.pid),
      `checkpoints by ${byWorker.join(",")}`,
    );
    assert.ok(handover <= pausedStep, "the paused worker's step after the takeover was not checkpointed by it");
    for (let n = 1; n <= 8; n++) {
      const times = executed.filter((e) => e.step === n).length;
      // Only the step in flight during the pause may run twice (once per worker, same idempotency key).
      assert.ok(n === pausedStep ? times === 1 || times === 2 : times === 1, `step ${n} ran ${times} times`);
    }

    // The record's history: every version names one lease owner; the owner changes once (the takeover),
    // fencing tokens only grow, and every checkpoint was written by the lease holder of that version.
    const res = await api.call(`/api/v1/admin/state/acme/workflows/${runId}/history?limit=1000`, {
      key: api.adminToken,
    });
    const versions = (
      (await res.json()) as {
        versions: {
          version: number;
          value: { lease: { owner: string; token: number } | null; checkpoints: Checkpoint[] };
        }[];
      }
    ).versions.reverse();
    const owners: number[] = [];
    let lastToken = 0;
    let lastCheckpoints = 0;
    const terminal = versions.map(({ value }) =>
      ["succeeded", "failed", "cancelled"].includes((value as unknown as { status: string }).status),
    );
    assert.deepEqual(
      terminal.map((t, i) => t && i),
      [...terminal.slice(0, -1).map(() => false), versions.length - 1],
      "only the last version is final: nothing is written after",
    );
    for (const { value } of versions) {
      if (value.lease) {
        assert.equal(typeof value.lease.owner, "string", "every lease names its owner");
        if (owners.at(-1) !== pidOf(value.lease.owner)) owners.push(pidOf(value.lease.owner));
        assert.ok(value.lease.token >= lastToken, "fencing tokens never go back");
        lastToken = value.lease.token;
      }
      for (const c of value.checkpoints.slice(lastCheckpoints)) {
        assert.equal(
          pidOf(c.worker),
          value.lease ? pidOf(value.lease.owner) : owners.at(-1),
          `checkpoint of step ${c.step} written by the lease holder`,
        );
      }
      lastCheckpoints = value.checkpoints.length;
    }
    assert.deepEqual(owners, [owner.pid, other.pid]);
  });

  it("100 concurrent short runs across 3 workers all finish, each step exactly once, also those whose queue entry was lost", async () => {
    const ids: string[] = [];
    for (let batch = 0; batch < 5; batch++) {
      ids.push(
        ...(await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            startRun({ steps: 3, seed: `s${batch * 20 + i}`, effectsLog: "hundred" }),
          ),
        )),
      );
    }
    // Lose a tenth of the queue's entries (as a worker that popped them and died would): the recovery
    // scan of PostgreSQL must still find those runs.
    const redis = new Redis(api.redis.url);
    try {
      const queueKey = `${api.env.STATEHOUSE_KEY_PREFIX}workflows:due`;
      assert.equal(await redis.zcard(queueKey), 100, "every run was queued");
      assert.equal(await redis.zrem(queueKey, ...ids.slice(0, 10).map((id) => `acme/${id}`)), 10);
    } finally {
      redis.disconnect();
    }
    const three = await spawnWorkers(3);
    // One listing per poll (not 100 reads), then each run once.
    const wanted = new Set(ids);
    await until(
      async () => {
        const res = await api.call("/api/v1/admin/workflows?status=succeeded&limit=500", { key: api.adminToken });
        const { runs: finished } = (await res.json()) as { runs: { runId: string }[] };
        return finished.filter((r) => wanted.has(r.runId)).length === ids.length ? true : undefined;
      },
      "100 runs to succeed",
      60_000,
      200,
    );
    const runs = await Promise.all(ids.map(status));
    runs.forEach((r, i) => {
      assert.deepEqual(r.result, expectedPlan(`s${i}`, 3));
      assert.equal(r.attempts, 3);
      assert.equal(r.resumes, 0);
      assert.deepEqual(
        r.checkpoints.map((c) => c.step),
        [1, 2, 3],
      );
    });
    const executed = await effects("hundred");
    assert.equal(executed.length, 300, "300 step executions for 100 runs of 3 steps");
    assert.equal(new Set(executed.map((e) => e.idempotencyKey)).size, 300, "no step ran twice");
    const pids = new Set(executed.map((e) => e.pid));
    assert.deepEqual([...pids].sort(), three.map((w) => w.pid).sort(), "every worker took a share");
    // The run cancelled before any worker existed stayed cancelled through all of this.
    assert.equal((await status(queuedRunId)).status, "cancelled");
  });
});
