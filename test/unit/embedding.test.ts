// The offline embedding behind session profile vectors: deterministic, normalized, similar wording close
// and unrelated wording far, the profile bounded, and the related topic chosen by similarity.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  cosine,
  EMBEDDING_DIM,
  embed,
  fromSparse,
  PROFILE_TOPICS,
  relatedTopic,
  toSparse,
  withMessage,
} from "../../server/agents/embedding";

describe("hashed bag-of-words embedding", () => {
  it("is deterministic, unit length, and zero for text without content words", () => {
    const a = embed("Planning a hiking trip to the Alps");
    assert.deepEqual(a, embed("Planning a hiking trip to the Alps"));
    assert.equal(a.length, EMBEDDING_DIM);
    assert.ok(Math.abs(Math.hypot(...a) - 1) < 1e-9);
    assert.equal(Math.hypot(...embed("is it the?")), 0);
    assert.equal(cosine(embed("is it"), a), 0);
  });

  it("puts similar wording close and unrelated wording far", () => {
    const trip = embed("I am planning a hiking trip to the Swiss Alps in June");
    assert.ok(cosine(trip, embed("Which hiking boots are best for the Alps?")) > 0.3);
    assert.ok(Math.abs(cosine(trip, embed("My budget is $2000 for the whole thing"))) < 0.1);
    assert.ok(cosine(trip, embed("hiking trip Swiss Alps June planning")) > 0.6, "word order matters less than words");
  });

  it("round-trips through the sparse form it is stored in", () => {
    const v = embed("sailing on lakes in summer");
    const back = fromSparse(toSparse(v));
    assert.ok(cosine(v, back) > 0.9999);
    assert.ok(toSparse(v).length < 20, "only the non-zero dimensions are stored");
  });

  it("a profile keeps the mean and the last topics; the related topic is the most similar earlier one", () => {
    let p = withMessage(undefined, 1, "I am planning a hiking trip to the Swiss Alps in June");
    p = withMessage(p, 2, "My budget is $2000 for the whole thing");
    p = withMessage(p, 3, "I also like sailing on Lake Geneva");
    assert.equal(p.messages, 3);
    assert.equal(relatedTopic(p, embed("Which hiking boots are best for the Alps?"))?.turn, 1);
    assert.equal(relatedTopic(p, embed("Is the budget enough?"))?.turn, 2);
    assert.equal(relatedTopic(p, embed("What time is it in Tokyo?")), undefined);
    for (let i = 4; i < 40; i++) p = withMessage(p, i, `message about topic ${i}`);
    assert.equal(p.topics.length, PROFILE_TOPICS);
    assert.equal(p.topics[0]!.turn, 40 - PROFILE_TOPICS);
    const t = "sailing on lakes";
    const twice = withMessage(withMessage(undefined, 1, t), 2, "hiking in mountains");
    assert.ok(
      Math.abs(cosine(twice.vector, embed(t)) - cosine(twice.vector, embed("hiking in mountains"))) < 0.01,
      "the profile is the mean of its messages",
    );
  });
});
