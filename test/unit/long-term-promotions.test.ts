// Promotions (what a turn taught, written off the request path) are bounded per tenant: at most
// PROMOTIONS_PER_TENANT run at once, the rest are dropped and reported, never queued; and each counts
// its writes against the tenant's operations quota before writing (a refusal writes nothing).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ResolvedAgent } from "../../server/agents/definitions";
import { LongTermMemory, PROMOTIONS_PER_TENANT } from "../../server/agents/long-term";
import { detectIntent, extractEntities } from "../../server/agents/nlp";

const agent = { name: "concierge", memory: { longTerm: true } } as unknown as ResolvedAgent;
const turn = (userId: string, n: number) => {
  const message = "My email is ada@example.com.";
  return {
    userId,
    sessionId: `s-${n}`,
    turn: n,
    message,
    found: extractEntities(message),
    intent: detectIntent(message),
  };
};
const tick = () => new Promise((r) => setTimeout(r, 10));

describe("promotions per tenant", () => {
  it("runs at most PROMOTIONS_PER_TENANT at once per tenant; more are dropped and reported", async () => {
    const added: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const failures: string[] = [];
    const memory = new LongTermMemory(
      {
        add: async (tenant: string, m: { userId: string }) => {
          await gate;
          added.push(`${tenant}/${m.userId}`);
          return {} as never;
        },
        search: async () => [],
      },
      { onFailure: (_stage, err) => failures.push((err as Error).name) },
    );
    for (let i = 0; i < PROMOTIONS_PER_TENANT + 3; i++) memory.promote("acme", agent, turn(`u${i}`, i));
    memory.promote("globex", agent, turn("g", 1)); // another tenant has its own allowance
    await tick();
    assert.deepEqual(failures, ["PromotionsBusy", "PromotionsBusy", "PromotionsBusy"]);
    release();
    await tick();
    assert.equal(added.filter((a) => a.startsWith("acme/")).length, PROMOTIONS_PER_TENANT);
    assert.ok(added.includes("globex/g"));
    memory.promote("acme", agent, turn("later", 9));
    await tick();
    assert.ok(added.includes("acme/later"), "finished promotions free their slots");
  });

  it("counts the writes against the tenant's quota first, and writes nothing when refused", async () => {
    const added: string[] = [];
    const admitted: [string, number][] = [];
    const failures: string[] = [];
    const memory = new LongTermMemory(
      {
        add: async (_t: string, m: { userId: string }) => {
          added.push(m.userId);
          return {} as never;
        },
        search: async () => [],
      },
      { onFailure: (_s, err) => failures.push((err as Error).message) },
      {
        admit: async (tenant, operations) => {
          admitted.push([tenant, operations]);
          if (tenant === "capped") throw new Error("operations quota exceeded");
        },
      },
    );
    memory.promote("acme", agent, turn("ada", 1));
    memory.promote("capped", agent, turn("bob", 1));
    await tick();
    assert.deepEqual(admitted, [
      ["acme", 1],
      ["capped", 1],
    ]);
    assert.deepEqual(added, ["ada"]);
    assert.deepEqual(failures, ["operations quota exceeded"]);
  });

  it("drops a promotion still running when its user is forgotten, and keeps later turns' promotions", async () => {
    const added: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const memory = new LongTermMemory(
      {
        search: async () => [],
        add: async (_t: string, m: { userId: string }) => {
          added.push(m.userId);
          return {} as never;
        },
      },
      {},
      { admit: () => gate }, // the promotion waits here, as one waits on a model's extraction
    );
    memory.promote("acme", agent, turn("ada", 1));
    memory.promote("acme", agent, turn("bob", 1));
    await tick();
    memory.fence("acme", "ada");
    await tick();
    memory.promote("acme", agent, turn("ada", 2)); // told after the forget: the user's new data
    release();
    await tick();
    assert.deepEqual(added.sort(), ["ada", "bob"], "ada's earlier turn wrote nothing; her later one and bob's did");
    assert.equal(added.filter((a) => a === "ada").length, 1);
  });
});
