// Per-agent figures: a turn's latency and tokens counted per tenant, agent and hour; quantiles read from
// the latency buckets; failed and abandoned model calls counted as failed turns; old hours dropped.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type AgentContext, type AgentModel, OfflineModel } from "../../server/agents/model";
import {
  countedModel,
  LATENCY_BOUNDS_MS,
  MemoryUsageLedger,
  quantile,
  summarize,
  type TurnFigures,
  USAGE_RETENTION_HOURS,
} from "../../server/agents/usage";

const context: AgentContext = {
  message: "Hello there",
  intent: "greeting",
  entities: {},
  summary: "",
  recentTurns: [{ user: "Earlier question", reply: "Earlier answer" }],
  degraded: false,
};

const turn = (ms: number, failed = false): TurnFigures => ({ ms, inputTokens: 10, outputTokens: 3, failed });

describe("per-agent usage counts", () => {
  it("sums a tenant's agent's turns per hour and keeps tenants and agents apart", async () => {
    const ledger = new MemoryUsageLedger();
    const at = new Date("2026-12-06T10:15:00Z");
    await ledger.add("acme", "bot", at, turn(40));
    await ledger.add("acme", "bot", new Date("2026-12-06T10:59:59Z"), turn(700, true));
    await ledger.add("acme", "bot", new Date("2026-12-06T11:00:00Z"), turn(80));
    await ledger.add("acme", "other", at, turn(40));
    await ledger.add("globex", "bot", at, turn(40));
    const hours = await ledger.hours("acme", ["bot", "absent"], new Date("2026-12-06T09:00:00Z"), at);
    assert.deepEqual(hours.get("absent"), []);
    const [ten] = hours.get("bot")!;
    assert.equal(hours.get("bot")!.length, 1, "11:00 is past the range asked for");
    assert.equal(ten!.hour, Date.parse("2026-12-06T10:00:00Z"));
    assert.deepEqual([ten!.turns, ten!.failed, ten!.totalMs, ten!.inputTokens, ten!.outputTokens], [2, 1, 740, 20, 6]);
    assert.equal(ten!.latency[0], 1, "40 ms is in the first bucket");
    assert.equal(ten!.latency[LATENCY_BOUNDS_MS.indexOf(1000)], 1, "700 ms is in the ≤1000 bucket");
  });

  it("drops hours past the retention", async () => {
    const ledger = new MemoryUsageLedger();
    const old = new Date("2026-11-01T00:00:00Z");
    await ledger.add("acme", "bot", old, turn(40));
    const later = new Date(old.getTime() + (USAGE_RETENTION_HOURS + 1) * 3_600_000);
    await ledger.add("acme", "bot", later, turn(40));
    const hours = await ledger.hours("acme", ["bot"], old, old);
    assert.deepEqual(hours.get("bot"), []);
  });

  it("reads quantiles from the buckets as histogram_quantile does, and a floor past the last bound", () => {
    const buckets = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);
    buckets[0] = 50; // ≤ 50 ms
    buckets[1] = 50; // 50–100 ms
    assert.equal(quantile(buckets, 0.5), 50);
    assert.equal(quantile(buckets, 0.75), 75);
    assert.equal(quantile(buckets, 1), 100);
    const slow = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);
    slow[LATENCY_BOUNDS_MS.length] = 3;
    assert.equal(quantile(slow, 0.5), LATENCY_BOUNDS_MS.at(-1));
    assert.equal(quantile(new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0), 0.5), 0);
  });

  it("summarizes hours into totals, a mean and quantiles (none without turns)", async () => {
    const ledger = new MemoryUsageLedger();
    const at = new Date("2026-12-06T10:00:00Z");
    for (const ms of [10, 20, 30, 2000]) await ledger.add("acme", "bot", at, turn(ms));
    const summary = summarize((await ledger.hours("acme", ["bot"], at, at)).get("bot")!);
    assert.equal(summary.turns, 4);
    assert.equal(summary.inputTokens, 40);
    assert.equal(summary.latencyMs!.mean, 515);
    assert.ok(summary.latencyMs!.p50 <= 50, JSON.stringify(summary));
    assert.ok(summary.latencyMs!.p95 > 1000 && summary.latencyMs!.p95 <= 2500, JSON.stringify(summary));
    assert.equal(summarize([]).latencyMs, null);
  });
});

describe("countedModel", () => {
  const counted = (model: AgentModel) => {
    const seen: TurnFigures[] = [];
    return { model: countedModel(model, async (f) => void seen.push(f)), seen };
  };
  const settle = () => new Promise((r) => setImmediate(r));

  it("counts a reply's and a stream's tokens, as the model reports them", async () => {
    const { model, seen } = counted(new OfflineModel());
    const reply = await model.reply(context);
    let streamed = "";
    for await (const piece of model.stream(context)) streamed += piece;
    await settle();
    assert.equal(streamed, reply.text);
    assert.equal(seen.length, 2);
    for (const f of seen) {
      assert.equal(f.failed, false);
      assert.equal(f.inputTokens, reply.usage.inputTokens);
      assert.equal(f.outputTokens, reply.usage.outputTokens);
    }
  });

  it("counts a failed call and a stream the caller abandons as failed turns; a failing count fails nothing", async () => {
    const failing: AgentModel = {
      name: "failing",
      reply: async () => {
        throw new Error("upstream down");
      },
      // biome-ignore lint/correctness/useYield: fails before its first piece
      async *stream() {
        throw new Error("upstream down");
      },
    };
    const { model, seen } = counted(failing);
    await assert.rejects(model.reply(context), /upstream down/);
    const abandoned = counted(new OfflineModel());
    for await (const _ of abandoned.model.stream(context)) break;
    await settle();
    assert.deepEqual(
      [...seen, ...abandoned.seen].map((f) => [f.failed, f.outputTokens]),
      [
        [true, 0],
        [true, 0],
      ],
    );
    const broken = countedModel(new OfflineModel(), () => {
      throw new Error("Redis down");
    });
    assert.equal((await broken.reply(context)).text, "Hello! How can I help?");
  });
});
