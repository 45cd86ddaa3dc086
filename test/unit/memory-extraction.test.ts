// What a turn teaches long-term memory (the offline extractor), and how search terms and rankings are
// formed: the pieces the memory integration tests rely on, checked on their own.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { detectIntent, extractEntities } from "../../server/agents/nlp";
import { memoriesFrom } from "../../server/memories/extraction";
import { fuse, searchTerms } from "../../server/memories/ranking";

const from = (message: string) => memoriesFrom(message, extractEntities(message), detectIntent(message));

describe("the offline extractor", () => {
  it("keeps single-valued entities as subjects and explicit statements by kind", () => {
    assert.deepEqual(from("Hi! My email is ada@example.com and I am vegetarian."), [
      { text: "The user's email is ada@example.com.", kind: "fact", subject: "email" },
      { text: "My email is ada@example.com and I am vegetarian.", kind: "preference" },
    ]);
    assert.deepEqual(from("I prefer window seats."), [{ text: "I prefer window seats.", kind: "preference" }]);
    assert.deepEqual(from("Please remember that the gate code is 4711."), [
      { text: "Please remember that the gate code is 4711.", kind: "fact" },
    ]);
    assert.deepEqual(from("My favourite colour is green."), [
      { text: "My favourite colour is green.", kind: "fact", subject: "favourite-colour" },
    ]);
    assert.deepEqual(from("I have a dentist appointment on March 14, 2027."), [
      { text: "I have a dentist appointment on March 14, 2027.", kind: "event" },
    ]);
  });

  it("keeps nothing from questions, recall and small talk that tells nothing", () => {
    for (const message of ["What is my email?", "Do you know my name?", "How are you?", "Thanks!", "I am not sure."])
      assert.deepEqual(from(message), [], message);
  });

  it("keeps at most five memories of one turn, each once", () => {
    const long = Array.from({ length: 12 }, (_, i) => `I like dish number ${i}.`).join(" ");
    assert.equal(from(long).length, 5);
  });
});

describe("search terms and fusion", () => {
  it("terms are words of letters and digits, without stopwords or tsquery operators", () => {
    assert.deepEqual(searchTerms("What food does the user like to eat?"), ["food", "user", "like", "eat"]);
    assert.deepEqual(searchTerms("a' | b & !c <-> (d) 'x'':*"), []);
    assert.deepEqual(searchTerms("café 2027 ümlaut"), ["café", "2027", "ümlaut"]);
    assert.equal(searchTerms("w".repeat(70)).length, 0, "words over 64 characters are dropped");
  });

  it("a full-text match ranks above any memory that shares no word, however similar its vector", () => {
    const v = (...xs: number[]) => Float32Array.from(xs);
    const ranked = fuse(
      [{ key: "matched" }],
      [
        { key: "similar", vector: v(1, 0) },
        { key: "matched", vector: v(0.1, 1) },
        { key: "unrelated", vector: v(0, 0) },
      ],
      v(1, 0),
    );
    assert.deepEqual(
      ranked.map((r) => [r.key, r.matched]),
      [
        ["matched", true],
        ["similar", false],
      ],
    );
  });
});
