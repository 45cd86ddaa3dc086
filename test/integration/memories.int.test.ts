// Long-term memories over REST on the real PostgreSQL and Redis: added, consolidated (a subject's new
// value is a new version; near-duplicates merge), searched by meaning (full-text OR-ed terms with
// stemming fused with vectors), listed, exported, changed and deleted; scopes and tenants kept apart.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ApiFixture, startApi } from "../helpers/api";

interface Memory {
  id: string;
  userId: string;
  text: string;
  kind: string;
  subject: string | null;
  version: number;
  source: { type: string };
}
type Hit = Memory & { score: number; matched: boolean };

const FACTS = [
  { text: "The user is vegetarian and loves vegetarian food, especially lentil curry.", kind: "preference" },
  { text: "The user works as a structural engineer in Lisbon.", kind: "fact" },
  { text: "The user's daughter plays the cello on Saturdays.", kind: "fact" },
  { text: "The user has a dentist appointment on March 14, 2027.", kind: "event" },
  { text: "The user drives a blue bicycle to the office.", kind: "fact" },
];

describe("long-term memories over REST", () => {
  let api: ApiFixture;
  let key: string;
  let readOnly: string;
  let otherKey: string;
  const ids: string[] = [];

  before(async () => {
    api = await startApi();
    ({ key } = await api.clientFor("acme", ["memories:read", "memories:write"]));
    ({ key: readOnly } = await api.clientFor("acme", ["memories:read"]));
    ({ key: otherKey } = await api.clientFor("globex", ["memories:read", "memories:write"]));
    for (const fact of FACTS) {
      const res = await api.send("POST", "/api/v1/memories", { userId: "ada", ...fact }, { key });
      assert.equal(res.status, 201, await res.clone().text());
      const memory = (await res.json()) as Memory;
      assert.equal(res.headers.get("location"), `/api/v1/memories/${memory.id}`);
      ids.push(memory.id);
    }
  });
  after(() => api.close());

  const search = async (query: string, as = key, extra: object = {}) => {
    const res = await api.send("POST", "/api/v1/memories/search", { userId: "ada", query, ...extra }, { key: as });
    assert.equal(res.status, 200, await res.clone().text());
    return ((await res.json()) as { results: Hit[] }).results;
  };

  it("search ranks the memory that shares stemmed words with a question first", async () => {
    const results = await search("what food does the user like to eat");
    assert.match(results[0]!.text, /vegetarian/);
    assert.equal(results[0]!.matched, true);
    // Stemming: "appointments" finds "appointment"; "engineering" finds "engineer".
    assert.match((await search("any dental appointments coming up?"))[0]!.text, /dentist/);
    assert.match((await search("is engineering their job"))[0]!.text, /engineer/);
    const unmatched = results.filter((r) => !r.matched);
    const firstUnmatched = results.findIndex((r) => !r.matched);
    if (unmatched.length)
      assert.ok(
        results.slice(firstUnmatched).every((r) => !r.matched),
        "matches come first",
      );
    const events = await search("dentist", key, { kinds: ["event"] });
    assert.deepEqual(
      events.map((r) => r.kind),
      ["event"],
    );
  });

  it("a new value of a subject is a new version of the same memory; a near-duplicate merges", async () => {
    const first = await api.send(
      "POST",
      "/api/v1/memories",
      { userId: "ada", text: "The user's email is ada@old.example", subject: "email" },
      { key },
    );
    assert.equal(first.status, 201);
    const old = (await first.json()) as Memory;
    const second = await api.send(
      "POST",
      "/api/v1/memories",
      { userId: "ada", text: "The user's email is ada@new.example", subject: "email" },
      { key },
    );
    assert.equal(second.status, 200, "replaced, not added");
    const replaced = (await second.json()) as Memory;
    assert.equal(replaced.id, old.id);
    assert.equal(replaced.version, 2);
    const historian = (await api.clientFor("acme", ["state:read", "memories:read"])).key;
    const history = await api.call(`/api/v1/state/memories/${old.id}/history`, { key: historian });
    assert.equal(history.status, 200);
    assert.deepEqual(
      ((await history.json()) as { versions: { version: number }[] }).versions.map((v) => v.version),
      [2, 1],
    );

    const dup = await api.send(
      "POST",
      "/api/v1/memories",
      { userId: "ada", text: "The user works as a structural engineer in Lisbon", kind: "fact" },
      { key },
    );
    assert.equal(dup.status, 200, "merged into the memory it nearly repeats");
    assert.equal(((await dup.json()) as Memory).id, ids[1]);
  });

  it("lists, pages, exports, changes (If-Match) and deletes a user's memories", async () => {
    const page1 = (await (await api.call("/api/v1/memories?userId=ada&limit=4", { key })).json()) as {
      memories: Memory[];
      nextCursor?: string;
    };
    assert.equal(page1.memories.length, 4);
    assert.ok(page1.nextCursor);
    const page2 = (await (
      await api.call(`/api/v1/memories?userId=ada&limit=4&cursor=${page1.nextCursor}`, { key })
    ).json()) as { memories: Memory[]; nextCursor?: string };
    const all = [...page1.memories, ...page2.memories].map((m) => m.id);
    assert.equal(new Set(all).size, all.length, "no memory twice across pages");
    assert.equal(all.length, 6, "five facts and the email");
    const exported = (await (await api.call("/api/v1/memories/export?userId=ada", { key })).json()) as {
      memories: Memory[];
    };
    assert.equal(exported.memories.length, 6);

    const id = ids[4]!;
    const stale = await api.send(
      "PATCH",
      `/api/v1/memories/${id}`,
      { text: "x" },
      { key, headers: { "if-match": '"9"' } },
    );
    assert.equal(stale.status, 412);
    const changed = await api.send(
      "PATCH",
      `/api/v1/memories/${id}`,
      { text: "The user rides a red bicycle to the office." },
      { key, headers: { "if-match": '"1"' } },
    );
    assert.equal(changed.status, 200, await changed.clone().text());
    assert.equal(((await changed.json()) as Memory).version, 2);
    assert.match((await search("what colour is the bicycle, red?"))[0]!.text, /red bicycle/);

    assert.equal((await api.call(`/api/v1/memories/${id}`, { key, method: "DELETE" })).status, 204);
    assert.equal((await api.call(`/api/v1/memories/${id}`, { key })).status, 404);
    assert.ok(!(await search("bicycle")).some((r) => r.id === id), "a deleted memory is not found");
  });

  it("keeps tenants apart and scopes to their words; bad input is a 4xx and stores nothing", async () => {
    assert.equal((await api.call(`/api/v1/memories/${ids[0]}`, { key: otherKey })).status, 404);
    const theirs = await api.send(
      "POST",
      "/api/v1/memories/search",
      { userId: "ada", query: "food" },
      { key: otherKey },
    );
    assert.deepEqual(((await theirs.json()) as { results: Hit[] }).results, []);
    const listed = (await (await api.call("/api/v1/memories?userId=ada", { key: otherKey })).json()) as {
      memories: Memory[];
    };
    assert.deepEqual(listed.memories, []);

    assert.equal((await search("food", readOnly)).length > 0, true, "memories:read searches");
    const refused = await api.send("POST", "/api/v1/memories", { userId: "ada", text: "x" }, { key: readOnly });
    assert.equal(refused.status, 403);
    const stateKey = (await api.clientFor("acme", ["state:read", "state:write"])).key;
    assert.equal((await api.call("/api/v1/memories?userId=ada", { key: stateKey })).status, 403);
    const direct = await api.send(
      "PUT",
      "/api/v1/state/memories/mem_forged",
      { value: { text: "forged" } },
      { key: stateKey },
    );
    assert.equal(direct.status, 403, "the state API never writes memories");

    const before = (await (await api.call("/api/v1/memories/export?userId=ada", { key })).json()) as {
      memories: Memory[];
    };
    for (const body of [
      { userId: "ada", text: "" },
      { userId: "", text: "x" },
      { userId: "a/b", text: "x" },
      { userId: "ada", text: "x".repeat(2001) },
      { userId: "ada", text: "x", kind: "rumour" },
      { userId: "ada", text: "x", subject: "Not A Subject!" },
      { userId: "ada", text: "x", extra: true },
    ]) {
      const res = await api.send("POST", "/api/v1/memories", body, { key });
      assert.equal(res.status, 422, `${JSON.stringify(body).slice(0, 80)}: ${res.status}`);
    }
    for (const body of [
      { userId: "ada" },
      { userId: "ada", query: "x", limit: 500 },
      { userId: "ada", query: "x", kinds: [] },
    ]) {
      const res = await api.send("POST", "/api/v1/memories/search", body, { key });
      assert.equal(res.status, 422, JSON.stringify(body));
    }
    assert.equal((await api.call("/api/v1/memories?userId=ada&cursor=garbage", { key })).status, 422);
    const nul = Buffer.from(JSON.stringify(["2024-01-01T00:00:00Z", "mem_\u0000"])).toString("base64url");
    assert.equal((await api.call(`/api/v1/memories?userId=ada&cursor=${nul}`, { key })).status, 422);
    // A value PostgreSQL refuses is the caller's error, never a store failure: the breaker stays closed.
    for (let i = 0; i < 8; i++) {
      const res = await api.send(
        "POST",
        "/api/langgraph/store/items/search",
        { namespace_prefix: ["a"], filter: { f: "\u0000" } },
        { key },
      );
      assert.equal(res.status, 422, await res.clone().text());
    }
    assert.equal((await api.call("/api/v1/memories?userId=ada", { key })).status, 200, "PostgreSQL still served");
    assert.equal((await api.call("/api/v1/memories/not-a-memory-id", { key })).status, 404);
    const after = (await (await api.call("/api/v1/memories/export?userId=ada", { key })).json()) as {
      memories: Memory[];
    };
    assert.deepEqual(after, before, "nothing refused was stored");
  });
});
