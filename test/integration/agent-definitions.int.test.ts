// Tenant-defined agents: definitions as versioned state, validation and the operator's allowlists, tenant
// isolation and scopes, sessions that run with a definition, and an agent's own upstream model (a local
// server speaking OpenAI's chat-completions protocol) with its limits: no redirects, a deadline, a size cap.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ApiFixture, startApi } from "../helpers/api";
import { type FakeLlm, startFakeLlm } from "../helpers/fake-llm";

const MANAGE = ["agents:manage", "agents:invoke", "state:read"];

async function expectProblem(res: Response, status: number, code: string) {
  const body = (await res.json()) as { code: string; field?: string; detail: string };
  assert.equal(res.status, status, JSON.stringify(body));
  assert.equal(body.code, code);
  return body;
}

describe("agent definitions", () => {
  let api: ApiFixture;
  let upstream: FakeLlm;
  let key: string;
  let otherKey: string;

  before(async () => {
    upstream = await startFakeLlm((r) => `Upstream saw ${r.body.messages.length} messages`);
    api = await startApi({
      STATEHOUSE_AGENT_BASE_URLS: upstream.baseUrl,
      STATEHOUSE_AGENT_API_KEY_ENVS: "SUPPORT_BOT_KEY",
      SUPPORT_BOT_KEY: "sk-support-bot-secret",
    });
    ({ key } = await api.clientFor("acme", MANAGE));
    ({ key: otherKey } = await api.clientFor("globex", MANAGE));
  });
  after(async () => {
    await api.close();
    await upstream.close();
  });

  it("a tenant defines, reads, lists and redefines an agent as a versioned record with history", async () => {
    const created = await api.send(
      "PUT",
      "/api/v1/agents/support-bot",
      { instructions: "You are Support Bot for Acme.", memory: { windowTurns: 2 } },
      { key },
    );
    assert.equal(created.status, 201, await created.clone().text());
    assert.equal(created.headers.get("etag"), '"1"');
    assert.equal(created.headers.get("location"), "/api/v1/agents/support-bot");
    const body = (await created.json()) as { version: number; builtIn: boolean; definition: { instructions: string } };
    assert.equal(body.version, 1);
    assert.equal(body.builtIn, false);
    assert.equal(body.definition.instructions, "You are Support Bot for Acme.");

    const list = (await (await api.call("/api/v1/agents", { key })).json()) as { agents: { name: string }[] };
    assert.deepEqual(
      list.agents.map((a) => a.name),
      ["assistant", "support-bot"],
    );

    const stale = await api.send(
      "PUT",
      "/api/v1/agents/support-bot",
      { instructions: "v2" },
      { key, headers: { "if-match": '"7"' } },
    );
    await expectProblem(stale, 412, "version_conflict");
    const updated = await api.send(
      "PUT",
      "/api/v1/agents/support-bot",
      { instructions: "You are Support Bot for Acme. Be brief.", memory: { windowTurns: 2 } },
      { key, headers: { "if-match": '"1"' } },
    );
    assert.equal(updated.status, 200);
    assert.equal(updated.headers.get("etag"), '"2"');

    const history = await api.call("/api/v1/state/agents/support-bot/history", { key });
    assert.equal(history.status, 200, await history.clone().text());
    const versions = ((await history.json()) as { versions: { version: number }[] }).versions;
    assert.deepEqual(
      versions.map((v) => v.version),
      [2, 1],
    );
    const put = await api.send("PUT", "/api/v1/state/agents/support-bot", { value: {} }, { key });
    await expectProblem(put, 403, "forbidden");
  });

  it("refuses what is not a definition with 422 naming the field, and the built-in agent with 403", async () => {
    const cases: [string, unknown, string][] = [
      ["too-many-turns", { memory: { windowTurns: 500 } }, "memory.windowTurns"],
      ["unknown-field", { instructionz: "x" }, ""],
      ["no-base-url", { model: { provider: "openai-compatible", name: "m" } }, "model.baseUrl"],
      [
        "not-allowed-upstream",
        { model: { provider: "openai-compatible", baseUrl: "http://127.0.0.1:9/v1", name: "m" } },
        "model.baseUrl",
      ],
      [
        "not-allowed-key",
        {
          model: {
            provider: "openai-compatible",
            baseUrl: upstream.baseUrl,
            name: "m",
            apiKeyEnv: "STATEHOUSE_ADMIN_TOKEN",
          },
        },
        "model.apiKeyEnv",
      ],
      ["offline-with-url", { model: { provider: "offline", baseUrl: upstream.baseUrl } }, "model"],
    ];
    for (const [name, definition, field] of cases) {
      const res = await api.send("PUT", `/api/v1/agents/${name}`, definition, { key });
      const problem = await expectProblem(res, 422, "invalid");
      if (field) assert.match(problem.detail, new RegExp(field.replace(".", "\\.")), name);
      assert.equal((await api.call(`/api/v1/agents/${name}`, { key })).status, 404, `${name} was not stored`);
    }
    await expectProblem(await api.send("PUT", "/api/v1/agents/Bad_Name", {}, { key }), 422, "invalid");
    await expectProblem(await api.send("PUT", "/api/v1/agents/assistant", {}, { key }), 403, "forbidden");
    await expectProblem(await api.call("/api/v1/agents/assistant", { key, method: "DELETE" }), 403, "forbidden");
    const builtIn = (await (await api.call("/api/v1/agents/assistant", { key })).json()) as { builtIn: boolean };
    assert.equal(builtIn.builtIn, true);
  });

  it("another tenant can neither see nor use an agent; scopes separate defining from invoking", async () => {
    await api.send("PUT", "/api/v1/agents/private-bot", { instructions: "secret" }, { key });
    await expectProblem(await api.call("/api/v1/agents/private-bot", { key: otherKey }), 404, "not_found");
    const theirs = (await (await api.call("/api/v1/agents", { key: otherKey })).json()) as {
      agents: { name: string }[];
    };
    assert.deepEqual(
      theirs.agents.map((a) => a.name),
      ["assistant"],
    );
    await expectProblem(
      await api.call("/api/v1/agents/private-bot/sessions", { key: otherKey, method: "POST" }),
      404,
      "not_found",
    );
    const { key: invokeOnly } = await api.clientFor("acme", ["agents:invoke"]);
    await expectProblem(await api.send("PUT", "/api/v1/agents/x-bot", {}, { key: invokeOnly }), 403, "forbidden");
    await expectProblem(await api.call("/api/v1/agents", { key: invokeOnly }), 403, "forbidden");
    const { key: manageOnly } = await api.clientFor("acme", ["agents:manage"]);
    await expectProblem(
      await api.call("/api/v1/agents/private-bot/sessions", { key: manageOnly, method: "POST" }),
      403,
      "forbidden",
    );
    await expectProblem(await api.call("/api/v1/state/agents/private-bot", { key: invokeOnly }), 403, "forbidden");
  });

  it("a session runs with its agent's definition: window, recorded version, deleted agents take no turns", async () => {
    await api.send("PUT", "/api/v1/agents/short-memory", { memory: { windowTurns: 2, summaries: false } }, { key });
    const session = (await (
      await api.call("/api/v1/agents/short-memory/sessions", { key, method: "POST" })
    ).json()) as {
      sessionId: string;
    };
    for (const content of ["one", "two", "three"]) {
      const res = await api.send(
        "POST",
        `/api/v1/agents/short-memory/sessions/${session.sessionId}/messages`,
        { content },
        { key },
      );
      assert.equal(res.status, 200, await res.clone().text());
    }
    const state = (await (
      await api.call(`/api/v1/agents/short-memory/sessions/${session.sessionId}`, { key })
    ).json()) as {
      turns: { user: string }[];
      summary: string;
      summarizedTurns: number;
      agentVersion: number;
      budget: { turns: { max: number } };
    };
    assert.deepEqual(
      state.turns.map((t) => t.user),
      ["two", "three"],
    );
    assert.equal(state.summarizedTurns, 1);
    assert.equal(state.summary, "", "summaries: false drops what leaves the window");
    assert.equal(state.agentVersion, 1);
    assert.equal(state.budget.turns.max, 2);

    assert.equal((await api.call("/api/v1/agents/short-memory", { key, method: "DELETE" })).status, 204);
    const after = await api.send(
      "POST",
      `/api/v1/agents/short-memory/sessions/${session.sessionId}/messages`,
      { content: "four" },
      { key },
    );
    await expectProblem(after, 404, "not_found");
  });

  it("an agent's own upstream gets its instructions, the window's turns and its key; the key is never stored", async () => {
    const definition = {
      instructions: "You are Support Bot.",
      model: {
        provider: "openai-compatible",
        baseUrl: upstream.baseUrl,
        name: "support-model",
        apiKeyEnv: "SUPPORT_BOT_KEY",
      },
      generation: { temperature: 0.2, maxOutputTokens: 64 },
    };
    assert.equal((await api.send("PUT", "/api/v1/agents/upstream-bot", definition, { key })).status, 201);
    const { sessionId } = (await (
      await api.call("/api/v1/agents/upstream-bot/sessions", { key, method: "POST" })
    ).json()) as {
      sessionId: string;
    };
    const say = (content: string, headers: Record<string, string> = {}) =>
      api.send("POST", `/api/v1/agents/upstream-bot/sessions/${sessionId}/messages`, { content }, { key, headers });
    const first = (await (await say("My email is bot@example.com")).json()) as { reply: string };
    assert.equal(first.reply, "Upstream saw 2 messages");
    const second = await say("What is my email?");
    assert.equal(second.status, 200);
    const request = upstream.seen.at(-1)!;
    assert.equal(request.path, "/v1/chat/completions");
    assert.equal(request.headers.authorization, "Bearer sk-support-bot-secret");
    assert.equal(request.body.model, "support-model");
    assert.equal(request.body.temperature, 0.2);
    assert.equal(request.body.max_tokens, 64);
    const [system, ...rest] = request.body.messages;
    assert.equal(system!.role, "system");
    assert.ok(system!.content.startsWith("You are Support Bot."), system!.content);
    assert.match(system!.content, /bot@example\.com/, "the entities reach the model");
    assert.deepEqual(
      rest.map((m) => [m.role, m.content]),
      [
        ["user", "My email is bot@example.com"],
        ["assistant", "Upstream saw 2 messages"],
        ["user", "What is my email?"],
      ],
    );
    const streamed = await (await say("stream please", { accept: "text/event-stream" })).text();
    const tokens = [...streamed.matchAll(/event: token\ndata: (.*)/g)].map((m) => JSON.parse(m[1]!).text).join("");
    assert.equal(tokens, "Upstream saw 6 messages");
    const stored = await api.call("/api/v1/state/agents/upstream-bot", { key });
    assert.doesNotMatch(await stored.text(), /sk-support-bot-secret/);
  });
});

describe("an agent's upstream is bounded", () => {
  const cases = [
    { name: "a redirect is not followed", behaviour: { redirectTo: "http://127.0.0.1:9/steal" }, why: /redirect/ },
    { name: "a slow upstream hits the deadline", behaviour: { delayMs: 3000 }, why: /in time/ },
    { name: "an oversized answer is cut off", behaviour: { padBytes: 200_000 }, why: /exceeded 65536 bytes/ },
  ];
  for (const { name, behaviour, why } of cases) {
    it(`${name}: 502 upstream_failed, and the turn is not saved`, async () => {
      const upstream = await startFakeLlm(() => "ok", behaviour);
      const api = await startApi({
        STATEHOUSE_AGENT_BASE_URLS: upstream.baseUrl,
        STATEHOUSE_AGENT_UPSTREAM_TIMEOUT_MS: "1000",
        STATEHOUSE_AGENT_UPSTREAM_MAX_BYTES: "65536",
      });
      try {
        const { key } = await api.clientFor("acme", MANAGE);
        const model = { provider: "openai-compatible", baseUrl: upstream.baseUrl, name: "m" };
        assert.equal((await api.send("PUT", "/api/v1/agents/edge", { model }, { key })).status, 201);
        const { sessionId } = (await (
          await api.call("/api/v1/agents/edge/sessions", { key, method: "POST" })
        ).json()) as {
          sessionId: string;
        };
        const started = Date.now();
        const res = await api.send(
          "POST",
          `/api/v1/agents/edge/sessions/${sessionId}/messages`,
          { content: "hi" },
          { key },
        );
        const problem = await expectProblem(res, 502, "upstream_failed");
        assert.match(problem.detail, why);
        assert.ok(Date.now() - started < 10_000, "the call ends near its deadline");
        const session = (await (await api.call(`/api/v1/agents/edge/sessions/${sessionId}`, { key })).json()) as {
          turnCount: number;
        };
        assert.equal(session.turnCount, 0);
      } finally {
        await api.close();
        await upstream.close();
      }
    });
  }
});
