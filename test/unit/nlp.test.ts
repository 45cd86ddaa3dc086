import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { extractEntities } from "../../server/agents/nlp";

describe("entity extraction", () => {
  it("finds a name introduced at the start of a sentence or inside one, in any case of the phrase", () => {
    assert.equal(extractEntities("My name is Ann Lee.").name, "Ann Lee");
    assert.equal(extractEntities("hi, my name is Bob").name, "Bob");
    assert.equal(extractEntities("I'm Carla Diaz and I need help").name, "Carla Diaz");
    assert.equal(extractEntities("Call me Dee").name, "Dee");
    assert.equal(extractEntities("I am tired today").name, undefined, "a lowercase word is not a name");
  });
});
