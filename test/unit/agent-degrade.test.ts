import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { OfflineModel } from "../../server/agents/model";
import { classifyBatch, invokeStateless } from "../../server/agents/stateless";
import { analyzeText } from "../../server/agents/text-analysis";
import type { TextAnalyzer, TextOutcome } from "../../server/agents/text-pool";

/** An analyzer whose tasks on texts containing "slow" run over budget; the rest are answered. */
function analyzer(seen: string[] = []): TextAnalyzer {
  return {
    mode: "workers",
    async analyze(tenant, task): Promise<TextOutcome> {
      seen.push(tenant);
      return task.text.includes("slow") ? { ok: false, reason: "timeout" } : { ok: true, value: analyzeText(task) };
    },
    async close() {},
  };
}

describe("agent calls degrade when text work is over budget (never an error)", () => {
  it("a batch reports `failed` for the document over budget, in its place, and answers the others", async () => {
    const seen: string[] = [];
    const results = await classifyBatch(
      [
        { id: "a", text: "Hi, I'm Ann" },
        { id: "b", text: "slow slow" },
        { text: "" },
        { text: "mail bob@example.org" },
      ],
      { analyzer: analyzer(seen), tenant: "t1" },
    );
    assert.deepEqual(
      results.map((r) => (r.ok ? "ok" : r.error.code)),
      ["ok", "failed", "invalid", "ok"],
    );
    assert.deepEqual(results[1], {
      index: 1,
      id: "b",
      ok: false,
      error: { code: "failed", detail: "the document took too long to classify" },
    });
    assert.equal(results[3]!.ok && results[3]!.entities.email, "bob@example.org");
    assert.deepEqual(
      seen,
      ["t1", "t1", "t1"],
      "every valid document is the tenant's task; the invalid one costs nothing",
    );
  });

  it("invoke answers without the entities of a message over budget, and with the others'", async () => {
    const result = await invokeStateless(
      new OfflineModel(),
      {
        messages: [
          { role: "user", content: "My name is Ann Lee" },
          { role: "assistant", content: "ok" },
          { role: "user", content: "slow: write to slow@example.com?" },
        ],
      },
      10,
      { analyzer: analyzer(), tenant: "t1" },
    );
    assert.equal(result.entities.name, "Ann Lee");
    assert.equal(result.entities.email, undefined, "the over-budget message adds nothing");
    assert.equal(result.intent, "question", "intent still comes from the linear patterns");
    assert.equal(result.degraded, false);
  });
});
