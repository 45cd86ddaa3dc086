// LangGraph's Store API with the official @langchain/langgraph-sdk client, unchanged: putItem, getItem
// (null for a missing item), searchItems with a query ranking the matching item first and with filters,
// listNamespaces with a prefix, deleteItem; items are Statehouse state (versions) with sliding TTLs; scopes
// and tenants kept apart.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Client } from "@langchain/langgraph-sdk";
import { type ApiFixture, startApi } from "../helpers/api";

describe("LangGraph's Store API with the official SDK client", () => {
  let api: ApiFixture;
  let client: Client;
  let other: Client;
  let readOnly: Client;
  const sdk = (apiKey: string) =>
    new Client({ apiUrl: `${api.url}/api/langgraph`, apiKey, callerOptions: { maxRetries: 0 } });

  before(async () => {
    api = await startApi();
    client = sdk((await api.clientFor("acme", ["memories:read", "memories:write"])).key);
    other = sdk((await api.clientFor("globex", ["memories:read", "memories:write"])).key);
    readOnly = sdk((await api.clientFor("acme", ["memories:read"])).key);
    const items: [string[], string, Record<string, unknown>][] = [
      [
        ["users", "ada", "memories"],
        "diet",
        { text: "Ada is vegetarian and likes vegetarian food", type: "preference" },
      ],
      [["users", "ada", "memories"], "job", { text: "Ada works as a structural engineer", type: "fact" }],
      [["users", "ada", "memories"], "music", { text: "Ada's daughter plays the cello", type: "fact" }],
      [["users", "ada", "settings"], "theme", { theme: "dark" }],
      [["users", "bob", "memories"], "diet", { text: "Bob eats everything", type: "preference" }],
    ];
    for (const [ns, key, value] of items) await client.store.putItem(ns, key, value);
  });
  after(() => api.close());

  it("putItem and getItem round-trip an item; a missing item is null", async () => {
    const item = await client.store.getItem(["users", "ada", "settings"], "theme");
    assert.deepEqual(item?.value, { theme: "dark" });
    assert.deepEqual(item?.namespace, ["users", "ada", "settings"]);
    assert.equal(item?.key, "theme");
    assert.ok(item?.createdAt && item.updatedAt);
    assert.equal(await client.store.getItem(["users", "ada", "settings"], "missing"), null);
    await client.store.putItem(["users", "ada", "settings"], "theme", { theme: "light" });
    assert.deepEqual((await client.store.getItem(["users", "ada", "settings"], "theme"))?.value, { theme: "light" });
    const historian = (await api.clientFor("acme", ["state:read", "memories:read"])).key;
    const key = encodeURIComponent(JSON.stringify(["users", "ada", "settings", "theme"]));
    const history = await api.call(`/api/v1/state/store/${key}/history`, { key: historian });
    assert.equal(history.status, 200, await history.clone().text());
    assert.equal(((await history.json()) as { versions: unknown[] }).versions.length, 2, "items are versioned state");
  });

  it("searchItems: a query ranks the matching item first; prefix, filter, limit and offset", async () => {
    const found = await client.store.searchItems(["users", "ada"], { query: "what food does ada like to eat" });
    assert.equal(found.items[0]!.key, "diet");
    assert.deepEqual(found.items[0]!.namespace, ["users", "ada", "memories"]);
    assert.ok(typeof found.items[0]!.score === "number");
    assert.ok(
      found.items.every((i) => i.namespace[1] === "ada"),
      "only under the prefix",
    );

    const facts = await client.store.searchItems(["users"], { filter: { type: "fact" } });
    assert.deepEqual(facts.items.map((i) => i.key).sort(), ["job", "music"]);
    const all = await client.store.searchItems(["users"], { limit: 2 });
    const next = await client.store.searchItems(["users"], { limit: 2, offset: 2 });
    assert.equal(all.items.length, 2);
    assert.equal(new Set([...all.items, ...next.items].map((i) => JSON.stringify([i.namespace, i.key]))).size, 4);
  });

  it("listNamespaces with a prefix, suffix and depth", async () => {
    const { namespaces } = await client.store.listNamespaces({ prefix: ["users", "ada"] });
    assert.deepEqual(namespaces, [
      ["users", "ada", "memories"],
      ["users", "ada", "settings"],
    ]);
    const memories = await client.store.listNamespaces({ suffix: ["memories"] });
    assert.deepEqual(memories.namespaces, [
      ["users", "ada", "memories"],
      ["users", "bob", "memories"],
    ]);
    const shallow = await client.store.listNamespaces({ maxDepth: 2 });
    assert.deepEqual(shallow.namespaces, [
      ["users", "ada"],
      ["users", "bob"],
    ]);
  });

  it("deleteItem removes an item; deleting a missing one is fine", async () => {
    await client.store.putItem(["tmp"], "gone", { text: "soon gone" });
    await client.store.deleteItem(["tmp"], "gone");
    assert.equal(await client.store.getItem(["tmp"], "gone"), null);
    await client.store.deleteItem(["tmp"], "never-there");
  });

  it("another tenant sees nothing; a read-only key cannot write; bad input is refused", async () => {
    assert.equal(await other.store.getItem(["users", "ada", "settings"], "theme"), null);
    assert.deepEqual((await other.store.searchItems(["users"], { query: "food" })).items, []);
    assert.deepEqual((await other.store.listNamespaces()).namespaces, []);
    await assert.rejects(readOnly.store.putItem(["x"], "y", { z: 1 }), /403/);
    assert.ok(await readOnly.store.getItem(["users", "ada", "settings"], "theme"));
    const key = (await api.clientFor("acme", ["memories:write"])).key;
    const put = (body: unknown) =>
      fetch(`${api.url}/api/langgraph/store/items`, {
        method: "PUT",
        headers: { "x-api-key": key, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    for (const body of [
      { namespace: [], key: "k", value: {} },
      { namespace: ["a.b"], key: "k", value: {} },
      { namespace: ["a"], key: "", value: {} },
      { namespace: ["a"], key: "k", value: "not an object" },
      { namespace: ["a"], key: "k", value: {}, ttl: -1 },
    ])
      assert.equal((await put(body)).status, 422, JSON.stringify(body));
    assert.deepEqual((await client.store.listNamespaces({ prefix: ["a"] })).namespaces, [], "nothing stored");
  });

  it("one search answers at most 8 MiB of items, newest first, however large the limit", async () => {
    const big = "x".repeat(900_000);
    for (let i = 0; i < 12; i++)
      await client.store.putItem(["big"], `item-${String(i).padStart(2, "0")}`, { blob: big }, { index: false });
    const { items } = await client.store.searchItems(["big"], { limit: 1000 });
    assert.ok(items.length >= 8 && items.length < 12, `${items.length} items of ~0.9 MB`);
    assert.equal(items[0]!.key, "item-11", "the newest first");
    const rest = await client.store.searchItems(["big"], { limit: 1000, offset: items.length });
    assert.equal(items.length + rest.items.length, 12, "offset continues where the budget stopped");
  });

  it("ttl is in minutes and slides with each read", async () => {
    await client.store.putItem(["ttl"], "k", { v: 1 }, { ttl: 2 });
    const reader = (await api.clientFor("acme", ["state:read", "memories:read"])).key;
    const key = encodeURIComponent(JSON.stringify(["ttl", "k"]));
    const record = (await (await api.call(`/api/v1/state/store/${key}`, { key: reader })).json()) as {
      expiresAt: string;
      idleTtlSeconds: number;
    };
    assert.equal(record.idleTtlSeconds, 120);
    const left = Date.parse(record.expiresAt) - Date.now();
    assert.ok(left > 100_000 && left <= 120_000, `expires in ${left} ms`);
  });
});
