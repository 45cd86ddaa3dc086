// Agent sessions over HTTP: memory in versioned state, concurrency, restarts, streaming, degraded turns,
// and the OpenAI-compatible model adapter against a local server that speaks that protocol.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ApiFixture, apiSuite, startApi } from "../helpers/api";
import { startOwnRedis } from "../helpers/redis-server";
import { type FakeLlm, startFakeLlm } from "../helpers/fake-llm";
import type { components } from "../../server/client/schema";

/** A session turn's answer, as the OpenAPI document (and so the typed client) describes it. */
type Turn = components["schemas"]["TurnResult"];

async function say(
  api: ApiFixture,
  key: string,
  sessionId: string,
  content: string,
  headers: Record<string, string> = {},
): Promise<Turn> {
  const res = await api.send(
    "POST",
    `/api/v1/agents/assistant/sessions/${sessionId}/messages`,
    { content },
    { key, headers },
  );
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as Turn;
}

describe("agent sessions over HTTP", () => {
  const suite = apiSuite({ keys: { key: "acme" } });

  const newSession = async (client = suite.clients.key) => {
    const { data, response } = await client.POST("/api/v1/agents/{agent}/sessions", {
      params: { path: { agent: "assistant" } },
    });
    assert.equal(response.status, 201);
    assert.match(data!.sessionId, /^[0-9a-f-]{36}$/);
    assert.equal(response.headers.get("location"), `/api/v1/agents/assistant/sessions/${data!.sessionId}`);
    return data!.sessionId;
  };

  it("remembers what the user said and answers from state, also after a restart", async () => {
    const id = await newSession();
    const first = await say(suite.api, suite.key, id, "Hi, my name is Alice Johnson and my email is alice@example.com");
    assert.equal(first.turn, 1);
    assert.equal(first.degraded, false);
    assert.equal(first.entities.email, "alice@example.com");
    assert.equal(first.entities.name, "Alice Johnson");
    const second = await say(suite.api, suite.key, id, "I need $250 by March 3rd");
    assert.deepEqual(second.entities.amounts, ["$250"]);
    assert.deepEqual(second.entities.dates, ["March 3rd"]);
    const recall = await say(suite.api, suite.key, id, "what is my email?");
    assert.equal(recall.intent, "recall");
    assert.equal(recall.reply, "Your email is alice@example.com.");
    assert.equal(recall.turn, 3);

    await suite.api.restart();
    const afterRestart = await say(suite.api, suite.key, id, "What is my email?");
    assert.equal(afterRestart.reply, "Your email is alice@example.com.");
    assert.equal(afterRestart.turn, 4);
    const state = await suite.api.call(`/api/v1/agents/assistant/sessions/${id}`, { key: suite.key });
    const body = (await state.json()) as {
      turnCount: number;
      entities: { email: string };
      intent: string;
      version: number;
    };
    assert.equal(body.turnCount, 4);
    assert.equal(body.entities.email, "alice@example.com");
    assert.equal(body.intent, "recall");
    assert.equal(state.headers.get("etag"), `"${body.version}"`);
  });

  it("20 concurrent messages to one session: 20 turns numbered 1..20, none lost, window and summary account for all", async () => {
    const id = await newSession();
    const turns = await Promise.all(
      Array.from({ length: 20 }, (_, i) => say(suite.api, suite.key, id, `Message number ${i}. Please remember it.`)),
    );
    assert.deepEqual(
      turns.map((t) => t.turn).sort((a, b) => a! - b!),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    assert.equal(new Set(turns.map((t) => t.version)).size, 20, "each turn is its own version");
    const { data } = await suite.clients.key.GET("/api/v1/agents/{agent}/sessions/{id}", {
      params: { path: { agent: "assistant", id } },
    });
    const s = data as {
      turnCount: number;
      turns: { turn: number; user: string }[];
      summarizedTurns: number;
      summary: string;
      budget: { turns: { used: number; max: number } };
    };
    assert.equal(s.turnCount, 20);
    assert.equal(s.turns.length, 10, "the window keeps the last 10 turns");
    assert.deepEqual(
      s.turns.map((t) => t.turn),
      Array.from({ length: 10 }, (_, i) => i + 11),
    );
    assert.equal(s.summarizedTurns, 10);
    const lines = s.summary.split("\n").filter((l) => l.startsWith("#"));
    assert.equal(lines.length, 10, "one summary line per turn that left the window");
    assert.deepEqual(
      lines.map((l) => Number(/^#(\d+):/.exec(l)?.[1])),
      Array.from({ length: 10 }, (_, i) => i + 1),
    );
    assert.match(
      s.summary.split("\n")[0]!,
      /^Topics: .*message \(10\)/,
      "the topics line counts words of every summarized turn",
    );
    const mentioned = new Set(
      [...s.turns.map((t) => t.user), ...lines].map((l) => Number(/Message number (\d+)/.exec(l)?.[1])),
    );
    assert.equal(mentioned.size, 20, "every message is in the window or the summary");
    assert.deepEqual(s.budget.turns, { used: 10, max: 10 });
  });

  it("streams the reply as server-sent events, then the saved turn", async () => {
    const id = await newSession();
    await say(suite.api, suite.key, id, "my email is bob@example.org");
    const res = await suite.api.send(
      "POST",
      `/api/v1/agents/assistant/sessions/${id}/messages`,
      { content: "what is my email?" },
      { key: suite.key, headers: { accept: "text/event-stream" } },
    );
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    const text = await res.text();
    const events = text
      .split("\n\n")
      .filter(Boolean)
      .map((block) => ({ event: /event: (\w+)/.exec(block)?.[1], data: JSON.parse(/data: (.*)/.exec(block)![1]!) }));
    const tokens = events.filter((e) => e.event === "token").map((e) => e.data.text as string);
    assert.ok(tokens.length > 1, "the reply arrives in pieces");
    const done = events.at(-1)!;
    assert.equal(done.event, "done");
    assert.equal(tokens.join(""), done.data.reply);
    assert.equal(done.data.reply, "Your email is bob@example.org.");
    assert.equal(done.data.turn, 2);
  });

  it("GET and DELETE a session; unknown agents and sessions are 404", async () => {
    const id = await newSession();
    const message = (content: string) =>
      suite.api.send("POST", `/api/v1/agents/assistant/sessions/${id}/messages`, { content }, { key: suite.key });
    const got = await suite.clients.key.GET("/api/v1/agents/{agent}/sessions/{id}", {
      params: { path: { agent: "assistant", id } },
    });
    assert.equal(got.response.status, 200);
    assert.equal((got.data as { turnCount: number }).turnCount, 0);
    assert.equal((got.data as { expiresAt: string | null }).expiresAt !== null, true, "sessions carry the idle TTL");
    const del = await suite.clients.key.DELETE("/api/v1/agents/{agent}/sessions/{id}", {
      params: { path: { agent: "assistant", id } },
    });
    assert.equal(del.response.status, 204);
    assert.equal((await suite.api.call(`/api/v1/agents/assistant/sessions/${id}`, { key: suite.key })).status, 404);
    assert.equal((await message("hi")).status, 404);
    const unknown = await suite.api.call("/api/v1/agents/nobody/sessions", { method: "POST", key: suite.key });
    assert.equal(unknown.status, 404);
    assert.match(
      ((await unknown.json()) as { detail: string }).detail,
      /no agent named "nobody"/,
      "says which agent is missing, not a record",
    );
    assert.equal((await message("")).status, 400);
    const { key: stateOnly } = await suite.api.clientFor("acme", ["state:read", "state:write"]);
    assert.equal(
      (await suite.api.call("/api/v1/agents/assistant/sessions", { method: "POST", key: stateOnly })).status,
      403,
    );
  });
});

describe("tenant isolation", () => {
  it("a key of tenant A gets 404 for tenant B's records and sessions on every route, and B's data is unchanged", async () => {
    const api = await startApi();
    try {
      const a = await api.clientFor("tenant-a");
      const b = await api.clientFor("tenant-b");
      const bput = await b.client.PUT("/api/v1/state/{ns}/{key}", {
        params: { path: { ns: "kv", key: "secret" } },
        body: { value: { owner: "b" } },
      });
      assert.equal(bput.response.status, 201);
      const session = await b.client.POST("/api/v1/agents/{agent}/sessions", {
        params: { path: { agent: "assistant" } },
      });
      const sid = session.data!.sessionId;
      await say(api, b.key, sid, "my email is b@example.com");

      const attempts: [string, RequestInit][] = [
        ["/api/v1/state/kv/secret", { method: "GET" }],
        ["/api/v1/state/kv/secret/history", { method: "GET" }],
        ["/api/v1/state/kv/secret/versions/1", { method: "GET" }],
        ["/api/v1/state/kv/secret", { method: "DELETE" }],
        [
          "/api/v1/state/kv/secret",
          {
            method: "PUT",
            headers: { "content-type": "application/json", "if-match": '"1"' },
            body: '{"value":"stolen"}',
          },
        ],
        [
          "/api/v1/state/kv/secret",
          { method: "PATCH", headers: { "content-type": "application/merge-patch+json" }, body: '{"owner":"a"}' },
        ],
        [`/api/v1/agents/assistant/sessions/${sid}`, { method: "GET" }],
        [`/api/v1/agents/assistant/sessions/${sid}`, { method: "DELETE" }],
        [
          `/api/v1/agents/assistant/sessions/${sid}/messages`,
          { method: "POST", headers: { "content-type": "application/json" }, body: '{"content":"what is my email?"}' },
        ],
      ];
      for (const [path, init] of attempts) {
        const res = await api.call(path, { ...init, key: a.key });
        const expected = init.method === "PUT" ? 412 : 404; // a conditional PUT finds no record to match
        assert.equal(res.status, expected, `${init.method} ${path}`);
        const body = (await res.json()) as { code: string; currentVersion?: unknown };
        if (expected === 412) assert.equal(body.currentVersion, null, "nothing about B's record leaks");
      }
      const list = await a.client.GET("/api/v1/state/{ns}", { params: { path: { ns: "kv" } } });
      assert.deepEqual(list.data!.items, []);
      const tx = await api.send(
        "POST",
        "/api/v1/transactions",
        { operations: [{ op: "delete", namespace: "kv", key: "secret", ifMatch: 1 }] },
        { key: a.key },
      );
      assert.equal(tx.status, 412);

      const still = await b.client.GET("/api/v1/state/{ns}/{key}", { params: { path: { ns: "kv", key: "secret" } } });
      assert.deepEqual(still.data?.value, { owner: "b" });
      assert.equal(still.data?.version, 1);
      const bSession = await b.client.GET("/api/v1/agents/{agent}/sessions/{id}", {
        params: { path: { agent: "assistant", id: sid } },
      });
      assert.equal((bSession.data as { turnCount: number }).turnCount, 1);
    } finally {
      await api.close();
    }
  });
});

describe("degraded agent turns", () => {
  it("answers statelessly with degraded: true when the stores are unavailable", async () => {
    const redis = await startOwnRedis();
    const api = await startApi({ STATEHOUSE_STORE_TIMEOUT_MS: "500", REDIS_URL: redis.url });
    try {
      const { key, client } = await api.clientFor("acme");
      const id = (await client.POST("/api/v1/agents/{agent}/sessions", { params: { path: { agent: "assistant" } } }))
        .data!.sessionId;
      const remembered = await say(api, key, id, "my email is c@example.com");
      assert.equal(remembered.degraded, false);
      await redis.stop(); // the hot tier dies
      await api.db.drop(); // and the warm tier goes away
      const turn = await say(api, key, id, "hello there");
      assert.equal(turn.degraded, true);
      assert.equal(turn.turn, null);
      assert.equal(turn.version, null);
      assert.equal(turn.reply, "Hello! How can I help?", "a stateless answer on a default context");
      const recall = await say(api, key, id, "what is my email?");
      assert.equal(recall.degraded, true);
      assert.match(recall.reply, /can't reach my memory/);
      const state = await api.call("/api/v1/state/kv/anything", { key });
      assert.equal(state.status, 503, "state routes answer 503 meanwhile");
      assert.ok(Number(state.headers.get("retry-after")) >= 1);
    } finally {
      await api.close();
      await redis.stop();
    }
  });
});

describe("OpenAI-compatible model adapter", () => {
  let llm: FakeLlm;
  before(async () => {
    llm = await startFakeLlm((r) =>
      r.body.messages[0]!.content.includes("llm@example.com") ? "From memory: llm@example.com" : "Nice to meet you",
    );
  });
  after(() => llm.close());
  const seen = () => llm.seen;

  it("uses LLM_BASE_URL with the session's memory in the prompt, plain and streamed", async () => {
    const api = await startApi({
      LLM_BASE_URL: llm.baseUrl,
      LLM_MODEL: "test-model",
      LLM_API_KEY: "sk-test",
    });
    try {
      const { key, client } = await api.clientFor("acme");
      const id = (await client.POST("/api/v1/agents/{agent}/sessions", { params: { path: { agent: "assistant" } } }))
        .data!.sessionId;
      const first = await say(api, key, id, "my email is llm@example.com");
      assert.equal(first.reply, "From memory: llm@example.com", "the entities extracted this turn reach the model");
      const second = await say(api, key, id, "what do you know?");
      assert.equal(second.reply, "From memory: llm@example.com");
      assert.equal(seen().at(-1)!.path, "/v1/chat/completions");
      const msgs = seen().at(-1)!.body.messages;
      assert.equal(msgs[0]!.role, "system");
      assert.deepEqual(
        msgs.slice(1, 3).map((m) => m.content),
        ["my email is llm@example.com", "From memory: llm@example.com"],
        "recent turns are replayed",
      );
      const streamed = await api.send(
        "POST",
        `/api/v1/agents/assistant/sessions/${id}/messages`,
        { content: "again?" },
        { key, headers: { accept: "text/event-stream" } },
      );
      const text = await streamed.text();
      assert.equal(seen().at(-1)!.body.stream, true);
      assert.match(text, /event: done\ndata: .*"reply":"From memory: llm@example.com".*"turn":3/);
    } finally {
      await api.close();
    }
  });
});
