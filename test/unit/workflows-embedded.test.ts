// The workflow engine with no external services (PGlite warm tier, in-process hot tier and queue), as a
// developer runs it out of the box: runs finish, a worker shutting down releases its run without
// counting an attempt and the next process resumes it; plus the pure pieces (chunking, summary, queue).
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../server/config";
import { buildServices, type Services } from "../../server/container";
import { chunkRanges, summarize } from "../../server/workflows/document-analysis";
import { MemoryRunQueue } from "../../server/workflows/queue";
import { until } from "../helpers/until";

describe("workflows on the embedded stores", () => {
  let dir: string;
  let services: Services;
  const config = () =>
    loadConfig({
      STATEHOUSE_DATA_DIR: dir,
      STATEHOUSE_ADMIN_TOKEN: "embedded-admin-token-0123",
      STATEHOUSE_OUTBOX_RELAY: "off",
      STATEHOUSE_WORKFLOW_POLL_MS: "20",
      STATEHOUSE_WORKFLOW_LEASE_MS: "2000",
    });

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "sh-workflows-"));
    services = await buildServices(config());
  });
  after(async () => {
    await services?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("runs a plan and a document analysis to the end", async () => {
    const plan = await services.workflows.start("acme", "plan", { steps: 3, seed: "e" });
    const doc = await services.workflows.start("acme", "document-analysis", {
      document: "Ada Lovelace wrote to ada@example.org on 2024-01-02. She described the engine.",
    });
    for (const run of [plan, doc]) {
      const done = await until(async () => {
        const r = await services.workflows.getOrThrow("acme", run.value.runId);
        return r.value.status === "succeeded" ? r : undefined;
      }, run.value.type);
      assert.equal(done.value.completedSteps, done.value.totalSteps);
    }
    const analysed = await services.workflows.getOrThrow("acme", doc.value.runId);
    assert.deepEqual((analysed.value.result as { entities: { email: string[] } }).entities.email, ["ada@example.org"]);
    assert.equal(analysed.value.totalSteps, 3, "split, one chunk, aggregate");
  });

  it("a worker that shuts down mid-run releases it; the next process resumes from the checkpoint without counting an attempt", async () => {
    const run = await services.workflows.start("acme", "plan", { steps: 4, seed: "restart", slowMs: 400 });
    await until(async () => {
      const r = await services.workflows.getOrThrow("acme", run.value.runId);
      return r.value.completedSteps >= 1 ? r : undefined;
    }, "the first checkpoint");
    await services.close();
    const released = await (async () => {
      services = await buildServices(
        loadConfig({
          STATEHOUSE_DATA_DIR: dir,
          STATEHOUSE_ADMIN_TOKEN: "embedded-admin-token-0123",
          STATEHOUSE_OUTBOX_RELAY: "off",
          STATEHOUSE_WORKFLOW_WORKERS: "0",
        }),
      );
      const r = await services.workflows.getOrThrow("acme", run.value.runId);
      await services.close();
      return r;
    })();
    assert.equal(released.value.status, "queued");
    assert.equal(released.value.lease, null);
    assert.ok(released.value.completedSteps >= 1 && released.value.completedSteps < 4);
    services = await buildServices(config());
    const done = await until(async () => {
      const r = await services.workflows.getOrThrow("acme", run.value.runId);
      return r.value.status === "succeeded" ? r : undefined;
    }, "the resumed run");
    assert.equal(done.value.resumes, 0, "a released run is not a crash");
    assert.equal(done.value.attemptsTotal, 4, "no step counted twice");
    assert.deepEqual(
      done.value.checkpoints.map((c) => c.step),
      [1, 2, 3, 4],
    );
  });
});

describe("document analysis helpers", () => {
  it("chunks cover the text exactly, in order, within the size, cut at sentence ends when near", () => {
    const text = Array.from({ length: 40 }, (_, i) => `Sentence number ${i} says something about topic ${i % 5}.`).join(
      " ",
    );
    const ranges = chunkRanges(text, 300);
    assert.equal(ranges[0]![0], 0);
    assert.equal(ranges.at(-1)![1], text.length);
    for (let i = 1; i < ranges.length; i++) assert.equal(ranges[i]![0], ranges[i - 1]![1]);
    for (const [s, e] of ranges) assert.ok(e - s <= 300 && e > s);
    for (const [, e] of ranges.slice(0, -1)) assert.equal(text[e - 1], ".", "cut after a sentence end");
  });

  it("the summary is made of the document's own most representative sentences, in order", () => {
    const text =
      "Budgets matter. The budget review covers the budget for travel. Lunch was nice. The budget is approved.";
    const summary = summarize(text, 2);
    assert.equal(summary.length, 2);
    for (const s of summary) assert.ok(text.includes(s));
    assert.ok(!summary.includes("Lunch was nice."));
    assert.ok(text.indexOf(summary[0]!) < text.indexOf(summary[1]!));
  });
});

describe("in-process run queue", () => {
  it("pops due runs earliest first, never one that is not due, each once", async () => {
    const q = new MemoryRunQueue();
    await q.push({ tenant: "t", runId: "late" }, 300);
    await q.push({ tenant: "t", runId: "early" }, 100);
    await q.push({ tenant: "u", runId: "mid" }, 200);
    assert.equal(await q.pop(50), undefined);
    assert.deepEqual(await q.pop(250), { tenant: "t", runId: "early" });
    assert.deepEqual(await q.pop(250), { tenant: "u", runId: "mid" });
    assert.equal(await q.pop(250), undefined);
    await q.push({ tenant: "t", runId: "late" }, 10); // re-queued earlier: moves, not duplicated
    assert.deepEqual(await q.pop(1000), { tenant: "t", runId: "late" });
    assert.equal(await q.pop(1000), undefined);
  });
});
