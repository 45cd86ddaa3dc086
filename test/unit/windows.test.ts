import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { budgetHeader } from "../../server/http/budget-header";
import { applyWindows, ExtractiveSummarizer, ModelSummarizer } from "../../server/state/windows";
import { definePolicy } from "../../server/state/namespaces";

const policy = definePolicy({
  name: "chats",
  kind: "session",
  durability: "durable",
  description: "test",
  windows: [{ field: "items", maxItems: 5, maxBytes: 350, summaryField: "summary", countField: "dropped" }],
});
const item = (n: number, text = `message ${n} about zebras`) => ({ turn: n, user: `${text}${" pad".repeat(20)}` });

describe("rolling windows", () => {
  it("keeps the newest items by count and by bytes, and counts and summarizes the rest", async () => {
    const items = Array.from({ length: 8 }, (_, i) => item(i + 1));
    const each = JSON.stringify(items[0]).length;
    const { value, dropped } = await applyWindows(
      policy,
      { items, summary: "", dropped: 0, other: true },
      new ExtractiveSummarizer(),
    );
    const v = value as { items: { turn: number }[]; summary: string; dropped: number; other: boolean };
    const fit = Math.floor((350 - 2) / (each + 1));
    assert.ok(fit < 5, "the byte budget is the tighter bound here");
    assert.deepEqual(
      v.items.map((i) => i.turn),
      Array.from({ length: fit }, (_, i) => 8 - fit + 1 + i),
    );
    assert.equal(dropped, 8 - fit);
    assert.equal(v.dropped, 8 - fit);
    assert.equal(v.other, true, "other fields are untouched");
    assert.match(v.summary, new RegExp(`^Topics: .*zebras \\(${8 - fit}\\)`));
    assert.match(v.summary.split("\n").at(-1)!, new RegExp(`^#${8 - fit}: message ${8 - fit} about zebras`));
  });

  it("always keeps the newest item, even alone over the byte budget, and leaves non-objects alone", async () => {
    const big = { turn: 9, user: "x".repeat(1000) };
    const { value } = await applyWindows(policy, { items: [item(1), big] }, new ExtractiveSummarizer());
    assert.deepEqual((value as { items: unknown[] }).items, [big]);
    assert.deepEqual(await applyWindows(policy, [1, 2, 3], new ExtractiveSummarizer()), {
      value: [1, 2, 3],
      dropped: 0,
    });
    assert.deepEqual(await applyWindows(policy, { items: "not a list" }, new ExtractiveSummarizer()), {
      value: { items: "not a list" },
      dropped: 0,
    });
  });

  it("the extractive summary accumulates topics over many rounds and stays within its bound", async () => {
    const summarizer = new ExtractiveSummarizer({ maxChars: 600 });
    let summary = "";
    for (let round = 0; round < 200; round++) {
      summary = await summarizer.summarize(
        summary,
        [item(round, round % 2 ? "we discussed volcanoes" : "we discussed glaciers")],
        policy.windows[0]!,
      );
    }
    assert.ok(summary.length <= 600, `bounded: ${summary.length}`);
    assert.match(summary, /volcanoes \(100\)/);
    assert.match(summary, /glaciers \(100\)/);
    assert.match(summary.split("\n").at(-1)!, /^#199: we discussed volcanoes/);
  });

  it("a model summarizer uses the model, and falls back to the extractive one when it fails", async () => {
    const prompts: string[] = [];
    const ok = new ModelSummarizer(async (p) => {
      prompts.push(p);
      return "They talked about zebras.";
    }, "test");
    assert.equal(await ok.summarize("", [item(1)], policy.windows[0]!), "They talked about zebras.");
    assert.match(prompts[0]!, /#1: message 1 about zebras/);
    const down = new ModelSummarizer(async () => Promise.reject(new Error("model down")), "test");
    assert.match(await down.summarize("", [item(2)], policy.windows[0]!), /^Topics: .*zebras \(1\)\n#2: message 2/);
  });

  it("reports the budget as a header", () => {
    assert.equal(
      budgetHeader(policy, 812, { items: [item(1)] }),
      `size=812/${4 * 1024 * 1024}, items.items=1/5, items.bytes=${JSON.stringify([item(1)]).length}/350`,
    );
  });
});
