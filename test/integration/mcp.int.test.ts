// The MCP door with the SDK's own client (@modelcontextprotocol/sdk, Streamable HTTP), unchanged: tools
// listed, five facts added for one user and searched by meaning, another tenant seeing none of them,
// state read and written with a stale ifMatch refused as a tool error naming the version, scopes
// checked per tool, and Origin validated.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { type ApiFixture, startApi } from "../helpers/api";

type ToolResult = { content: { type: string; text: string }[]; isError?: boolean };

describe("the MCP door with the SDK's client", () => {
  let api: ApiFixture;
  const clients: Client[] = [];

  const connect = async (key: string) => {
    const client = new Client({ name: "statehouse-test", version: "1.0.0" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${api.url}/api/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${key}` } },
      }),
    );
    clients.push(client);
    return client;
  };
  const call = async (client: Client, name: string, args: Record<string, unknown>) => {
    const result = (await client.callTool({ name, arguments: args })) as ToolResult;
    return { isError: result.isError === true, body: JSON.parse(result.content[0]!.text) as Record<string, unknown> };
  };

  let acme: Client;
  let globex: Client;

  before(async () => {
    api = await startApi();
    acme = await connect(
      (await api.clientFor("acme", ["memories:read", "memories:write", "state:read", "state:write"])).key,
    );
    globex = await connect((await api.clientFor("globex", ["memories:read", "memories:write"])).key);
  });
  after(async () => {
    for (const c of clients) await c.close();
    await api.close();
  });

  it("lists the tools with their arguments", async () => {
    const { tools } = await acme.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), [
      "add_memory",
      "delete_memory",
      "get_state",
      "list_state",
      "put_state",
      "search_memories",
    ]);
    const put = tools.find((t) => t.name === "put_state")!;
    assert.deepEqual(Object.keys(put.inputSchema.properties ?? {}).sort(), ["ifMatch", "key", "namespace", "value"]);
  });

  it("five facts added for one user: search ranks the food one first; another tenant finds none", async () => {
    const facts = [
      "Ada is vegetarian and loves vegetarian food like lentil curry.",
      "Ada works as a structural engineer in Lisbon.",
      "Ada's daughter plays the cello on Saturdays.",
      "Ada has a dentist appointment on March 14, 2027.",
      "Ada rides a blue bicycle to the office.",
    ];
    for (const text of facts) {
      const added = await call(acme, "add_memory", { userId: "ada", text });
      assert.equal(added.isError, false, JSON.stringify(added.body));
      assert.equal(added.body.created, true);
    }
    const found = await call(acme, "search_memories", { userId: "ada", query: "what food does the user like to eat" });
    const results = found.body.results as { text: string; id: string }[];
    assert.match(results[0]!.text, /vegetarian/);
    assert.equal(results.length >= 1, true);

    const theirs = await call(globex, "search_memories", {
      userId: "ada",
      query: "what food does the user like to eat",
    });
    assert.deepEqual(theirs.body.results, []);
    const stolen = await call(globex, "delete_memory", { userId: "ada", id: results[0]!.id });
    assert.equal(stolen.isError, true);
    assert.equal(stolen.body.error, "not_found");

    const removed = await call(acme, "delete_memory", { userId: "ada", id: results[0]!.id });
    assert.deepEqual(removed, { isError: false, body: { deleted: results[0]!.id } });
    const after = await call(acme, "search_memories", { userId: "ada", query: "vegetarian food" });
    assert.ok(!(after.body.results as { id: string }[]).some((r) => r.id === results[0]!.id));
  });

  it("state tools: put, get, list; a stale ifMatch is a tool error naming the current version", async () => {
    const first = await call(acme, "put_state", { namespace: "kv", key: "prefs/ada", value: { theme: "dark" } });
    assert.deepEqual(first.body, { namespace: "kv", key: "prefs/ada", version: 1, created: true });
    const second = await call(acme, "put_state", {
      namespace: "kv",
      key: "prefs/ada",
      value: { theme: "light" },
      ifMatch: 1,
    });
    assert.equal(second.body.version, 2);
    const stale = await call(acme, "put_state", {
      namespace: "kv",
      key: "prefs/ada",
      value: { theme: "x" },
      ifMatch: 1,
    });
    assert.equal(stale.isError, true);
    assert.equal(stale.body.error, "version_conflict");
    assert.equal(stale.body.currentVersion, 2);
    const got = await call(acme, "get_state", { namespace: "kv", key: "prefs/ada" });
    assert.deepEqual([got.body.value, got.body.version], [{ theme: "light" }, 2]);
    const listed = await call(acme, "list_state", { namespace: "kv", prefix: "prefs/" });
    assert.deepEqual(
      (listed.body.keys as { key: string }[]).map((k) => k.key),
      ["prefs/ada"],
    );
    const rest = await api.call("/api/v1/state/kv/prefs%2Fada", {
      key: (await api.clientFor("acme", ["state:read"])).key,
    });
    assert.equal(((await rest.json()) as { version: number }).version, 2, "the same record the state API serves");
  });

  it("each tool checks the key's scope and the namespaces a domain owns", async () => {
    const denied = await call(globex, "get_state", { namespace: "kv", key: "prefs/ada" });
    assert.equal(denied.isError, true);
    assert.equal(denied.body.error, "forbidden");
    assert.equal(denied.body.requiredScope, "state:read");
    const owned = await call(acme, "put_state", {
      namespace: "sessions",
      key: "forged",
      value: { agent: "assistant" },
    });
    assert.equal(owned.isError, true);
    assert.equal(owned.body.error, "forbidden");
    const memoriesDirect = await call(acme, "put_state", { namespace: "memories", key: "mem_x", value: {} });
    assert.equal(memoriesDirect.body.error, "forbidden", "memories are written by the memory tools only");
    const readOnly = await connect((await api.clientFor("acme", ["memories:read"])).key);
    const refused = await call(readOnly, "add_memory", { userId: "ada", text: "nope" });
    assert.equal(refused.body.requiredScope, "memories:write");
    const bad = await readOnly.callTool({ name: "search_memories", arguments: { userId: "a/b", query: "x" } });
    assert.equal(bad.isError, true, "arguments outside the schema are a tool error");
  });

  it("needs a key, and refuses a page of another origin", async () => {
    const init = {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } },
    };
    const headers = { "content-type": "application/json", accept: "application/json, text/event-stream" };
    const anonymous = await fetch(`${api.url}/api/mcp`, { method: "POST", headers, body: JSON.stringify(init) });
    assert.equal(anonymous.status, 401);
    const key = (await api.clientFor("acme", ["state:read"])).key;
    const auth = { ...headers, authorization: `Bearer ${key}` };
    const foreign = await fetch(`${api.url}/api/mcp`, {
      method: "POST",
      headers: { ...auth, origin: "https://evil.example" },
      body: JSON.stringify(init),
    });
    assert.equal(foreign.status, 403);
    const own = await fetch(`${api.url}/api/mcp`, {
      method: "POST",
      headers: { ...auth, origin: new URL(api.url).origin },
      body: JSON.stringify(init),
    });
    assert.equal(own.status, 200, await own.clone().text());
    assert.equal((await fetch(`${api.url}/api/mcp`, { headers: auth })).status, 405, "no server-initiated stream");
    const batch = await fetch(`${api.url}/api/mcp`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify([init, { ...init, id: 2 }]),
    });
    assert.equal(batch.status, 400, "one message per request: a batch would multiply one rate-limit token's work");
  });
});
