import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { embed } from "../../server/agents/embedding";
import { detectIntent, patternEntities, recallTarget, summarizeTurn } from "../../server/agents/nlp";
import { analyzeText } from "../../server/agents/text-analysis";
import { AGENT_TEXT_PREFIX_CHARS, analysisPrefix } from "../../server/agents/text-limits";
import { ExtractiveSummarizer } from "../../server/state/windows";

// Texts that made the old patterns backtrack quadratically (the email pattern took ~2.5 s on 32 000
// characters of the first two). 64 000 characters here: a quadratic pattern would take ~10 s each.
const N = 64_000;
const HOSTILE: Record<string, string> = {
  "a. run": "a.".repeat(N / 2),
  "email killer": `a@${"a.".repeat(N / 2 - 1)}`,
  "@ runs": "a@a.".repeat(N / 4),
  "punctuation run": `Ann${".".repeat(N)}x`,
  "spaces after an intro": `my name is${" ".repeat(N)}x`,
  "long month word": `jan${"a".repeat(N)}`,
  "no sentence end": "word ".repeat(N / 5),
  "digits and dashes": "1-".repeat(N / 2),
};

/** Runs `fn` and asserts it finished within a bound generous enough for a loaded machine. */
function finishes(label: string, fn: () => unknown, boundMs = 3_000): void {
  const started = performance.now();
  fn();
  const ms = performance.now() - started;
  assert.ok(ms < boundMs, `${label} took ${Math.round(ms)} ms`);
}

describe("agent text patterns are linear on hostile text", () => {
  for (const [name, text] of Object.entries(HOSTILE)) {
    it(`patterns, intent, summary line and embedding finish on ${name}`, () => {
      finishes("patternEntities", () => patternEntities(text));
      finishes("detectIntent", () => detectIntent(text));
      finishes("recallTarget", () => recallTarget(text));
      finishes("summarizeTurn", () => summarizeTurn(1, text));
      finishes("embed", () => embed(text));
    });
  }

  it("the email pattern still finds addresses next to hostile runs", () => {
    assert.equal(patternEntities(`${"a.".repeat(1000)} write to ann@example.com`).email, "ann@example.com");
    assert.equal(patternEntities("a@a.a.a.a.a.a.a.a").email, undefined);
  });

  it("the window summarizer reads a bounded prefix and parses a hostile summary line linearly", async () => {
    const summarizer = new ExtractiveSummarizer();
    finishes("summarize", () =>
      summarizer.summarize(`Topics: ${"a ".repeat(N)}`, [{ turn: 1, user: HOSTILE["a. run"] }]),
    );
    const summary = await summarizer.summarize("Topics: zebras (3), lions (2)\n#1: old", [
      { turn: 2, user: `Zebras again. ${"x ".repeat(N)}` },
    ]);
    assert.match(summary, /^Topics: zebras \(4\), lions \(2\)/, "counts from the previous line are kept");
    assert.ok(summary.length <= 4000);
  });
});

describe("agent text work reads a bounded prefix", () => {
  it("cuts at the bound, at a space near it, never inside a surrogate pair", () => {
    assert.equal(analysisPrefix("short"), "short");
    const words = "word ".repeat(AGENT_TEXT_PREFIX_CHARS);
    const cut = analysisPrefix(words);
    assert.ok(cut.length <= AGENT_TEXT_PREFIX_CHARS && cut.length > AGENT_TEXT_PREFIX_CHARS - 64);
    assert.ok(cut.endsWith("word"), "cut at a space, not inside a word");
    const emoji = `${"x".repeat(AGENT_TEXT_PREFIX_CHARS - 1)}😀tail`;
    assert.equal(analysisPrefix(emoji), "x".repeat(AGENT_TEXT_PREFIX_CHARS - 1), "the pair is dropped whole");
  });

  it("entities past the prefix are not read; those inside it are", () => {
    const text = `My name is Ann Lee. ${"filler ".repeat(AGENT_TEXT_PREFIX_CHARS / 7)} mail late@example.com`;
    const a = analyzeText({ text, embed: true });
    assert.equal(a.entities.name, "Ann Lee");
    assert.equal(a.entities.email, undefined);
    assert.equal(a.vector?.length, 256);
  });

  it("the NLP library on the bounded prefix of the worst text found finishes (it runs in the pool, with a budget)", () => {
    for (const text of [HOSTILE["a. run"]!, HOSTILE["email killer"]!])
      finishes("analyzeText", () => analyzeText({ text, embed: true }), 10_000);
  });
});
