import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { OfflineModel } from "../../server/agents/model";
import { detectIntent, extractEntities } from "../../server/agents/nlp";

describe("entity extraction", () => {
  it("finds a name introduced at the start of a sentence or inside one, in any case of the phrase", () => {
    assert.equal(extractEntities("My name is Ann Lee.").name, "Ann Lee");
    assert.equal(extractEntities("hi, my name is Bob").name, "Bob");
    assert.equal(extractEntities("I'm Carla Diaz and I need help").name, "Carla Diaz");
    assert.equal(extractEntities("Call me Dee").name, "Dee");
    assert.equal(extractEntities("I am tired today").name, undefined, "a lowercase word is not a name");
  });
});

// What extraction found on normal text before the patterns were made linear (computed with main's
// nlp.ts): the rewrite must not change a single result, nor the order of the fields.
const BEFORE: [string, Record<string, unknown>, string][] = [
  [
    "Hi, my name is Ann Lee, email ann.lee@example.com, I need $250 by March 3rd, call 555-123-4567 and see https://example.com.",
    {
      email: "ann.lee@example.com",
      phone: "555-123-4567",
      name: "Ann Lee",
      people: ["Ann Lee"],
      amounts: ["$250"],
      dates: ["March 3rd"],
      urls: ["https://example.com."],
    },
    "greeting",
  ],
  [
    "Please send the report to bob.smith+work@mail.example.org and carla@x.io by next week.",
    { email: "carla@x.io", dates: ["next week"] },
    "request",
  ],
  [
    "I met John Carter and Mary Jones on Monday; the budget is \u20ac4,000 or $3.50 per unit.",
    { people: ["John Carter", "Mary Jones"], amounts: ["\u20ac4,000", "$3.50"], dates: ["Monday"] },
    "inform",
  ],
  [
    "Call me Dee. My backup address is d.e.e@sub.domain.co.uk!",
    { email: "d.e.e@sub.domain.co.uk", name: "Dee", people: ["Dee"] },
    "inform",
  ],
  ["What's my email?", {}, "recall"],
  [
    "Thanks a lot, see you on 2024-05-01 or 12th of June 2025.",
    { dates: ["2024-05-01", "12th of June 2025"] },
    "farewell",
  ],
  [
    "contact: a@b.c, x@y.zz, not-an-email@, @nobody.com, first.last@company.travel",
    { email: "first.last@company.travel", urls: ["@nobody.com,"] },
    "inform",
  ],
];

describe("extraction on normal text is unchanged by the linear patterns", () => {
  for (const [text, entities, intent] of BEFORE) {
    it(text.slice(0, 60), () => {
      assert.equal(JSON.stringify(extractEntities(text)), JSON.stringify(entities));
      assert.equal(detectIntent(text), intent);
    });
  }
});

describe("the offline model recalls what it extracted", () => {
  const say = async (statements: string[], question: string) => {
    const facts = statements.map((text, i) => ({ turn: i + 1, text, entities: extractEntities(text) }));
    const entities = Object.assign({}, ...facts.map((f) => f.entities));
    const context = {
      message: question,
      intent: detectIntent(question),
      entities,
      summary: "",
      facts,
      recentTurns: [],
      degraded: false,
    };
    return (await new OfflineModel().reply(context)).text;
  };

  it("answers when an appointment is from the statement that gave its date", async () => {
    const reply = await say(
      ["I have a dentist appointment on March 14, 2027.", "My team meeting is on April 2, 2027."],
      "When is my dentist appointment?",
    );
    assert.match(reply, /^March 14, 2027\b/);
    assert.doesNotMatch(reply, /April/);
  });

  it("takes 'Can you note that …?' as something to remember, and answers who from it", async () => {
    assert.equal(detectIntent("Can you note that John Smith will join?"), "inform");
    assert.equal(await say([], "Can you note that John Smith will join?"), "Noted: John Smith will join.");
    assert.match(await say(["Can you note that John Smith will join?"], "Who will join?"), /^John Smith\b/);
  });

  it("answers one-valued facts directly, and says when it knows nothing about a question", async () => {
    assert.equal(await say(["my email is ann@example.com"], "What is my email?"), "Your email is ann@example.com.");
    assert.match(
      await say(["I have a dentist appointment on March 14, 2027."], "When is my flight?"),
      /haven't told me|don't remember/,
    );
  });
});
