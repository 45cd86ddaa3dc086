// The admin API behind the dashboard's Agents page: a tenant's agents with live sessions and the last
// day's turns, latency and tokens (an upstream's own counts where it reports them), and an agent's
// newest conversations; a tenant admin sees only its own tenant.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ApiFixture, startApi, openaiClient } from "../helpers/api";
import { FAKE_USAGE, type FakeLlm, startFakeLlm } from "../helpers/fake-llm";

interface Overview {
  tenant: string;
  truncated: boolean;
  agents: {
    name: string;
    builtIn: boolean;
    version: number;
    model: { provider: string; name: string | null };
    activeSessions: number;
    last24h: {
      turns: number;
      failedTurns: number;
      inputTokens: number;
      outputTokens: number;
      latencyMs: { mean: number; p50: number; p95: number } | null;
    };
    hourly: { at: string; turns: number; inputTokens: number; outputTokens: number; p95Ms: number | null }[];
  }[];
}

interface Conversations {
  conversations: { id: string; version: number; turns: number; agentVersion: number; userId: string | null }[];
}

describe("the admin API's per-agent figures", () => {
  let api: ApiFixture;
  let upstream: FakeLlm;
  let key: string;
  let admin: string;
  let otherAdmin: string;
  let sessionId: string;
  let conversationId: string;

  before(async () => {
    upstream = await startFakeLlm(() => "Upstream answer");
    api = await startApi({ STATEHOUSE_AGENT_BASE_URLS: upstream.baseUrl });
    ({ key } = await api.clientFor("acme", ["agents:invoke", "agents:manage"]));
    ({ key: admin } = await api.clientFor("acme", ["admin", "agents:manage"]));
    ({ key: otherAdmin } = await api.clientFor("globex", ["admin", "agents:invoke", "agents:manage"]));
    const define = (name: string, definition: object) => api.send("PUT", `/api/v1/agents/${name}`, definition, { key });
    assert.equal((await define("support-bot", { description: "Answers support questions" })).status, 201);
    assert.equal((await define("support-bot", { description: "Answers support questions, v2" })).status, 200);
    assert.equal(
      (
        await define("upstream-bot", {
          model: { provider: "openai-compatible", baseUrl: upstream.baseUrl, name: "up-model" },
        })
      ).status,
      201,
    );

    // Two turns of a REST session of support-bot; one OpenAI-door conversation of upstream-bot.
    const created = await api.send("POST", "/api/v1/agents/support-bot/sessions", {}, { key });
    sessionId = ((await created.json()) as { sessionId: string }).sessionId;
    for (const content of ["My email is ada@example.com", "What is my email?"]) {
      const turn = await api.send(
        "POST",
        `/api/v1/agents/support-bot/sessions/${sessionId}/messages`,
        { content },
        { key },
      );
      assert.equal(turn.status, 200, await turn.clone().text());
    }
    const client = openaiClient(api.url, key);
    const conversation = await client.conversations.create({ metadata: { user_id: "user-42" } });
    conversationId = conversation.id;
    await client.responses.create({ model: "upstream-bot", input: "Hello", conversation: conversation.id });
    const streamed = await client.responses.create({
      model: "upstream-bot",
      input: "Hello again",
      conversation: conversation.id,
      stream: true,
    });
    for await (const _ of streamed);
  });
  after(async () => {
    await api.close();
    await upstream.close();
  });

  const overview = async (tenant: string, as: string) => {
    const res = await api.call(`/api/v1/admin/agents/${tenant}`, { key: as });
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as Overview;
  };

  it("names each agent with its version, model, live sessions and the day's turns, latency and tokens", async () => {
    const { agents, truncated } = await overview("acme", admin);
    assert.equal(truncated, false);
    assert.deepEqual(
      agents.map((a) => [a.name, a.builtIn, a.version]),
      [
        ["assistant", true, 0],
        ["support-bot", false, 2],
        ["upstream-bot", false, 1],
      ],
    );
    const [assistant, support, up] = agents as [Overview["agents"][0], Overview["agents"][0], Overview["agents"][0]];
    assert.equal(assistant.last24h.turns, 0);
    assert.equal(assistant.last24h.latencyMs, null);
    assert.equal(assistant.model.provider, "server");

    assert.equal(support.activeSessions, 1);
    assert.equal(support.last24h.turns, 2);
    assert.equal(support.last24h.failedTurns, 0);
    assert.ok(support.last24h.inputTokens > 0 && support.last24h.outputTokens > 0, "the offline model's estimates");
    const latency = support.last24h.latencyMs!;
    assert.ok(latency.p50 > 0 && latency.p50 <= latency.p95, JSON.stringify(latency));

    assert.deepEqual(up.model, { provider: "openai-compatible", name: "up-model" });
    assert.equal(up.activeSessions, 1, "the conversation, bound by its first response");
    assert.equal(up.last24h.turns, 2);
    assert.equal(up.last24h.inputTokens, 2 * FAKE_USAGE.prompt_tokens, "the upstream's own counts, plain and streamed");
    assert.equal(up.last24h.outputTokens, 2 * FAKE_USAGE.completion_tokens);

    assert.equal(support.hourly.length, 24);
    assert.equal(support.hourly.at(-1)!.turns, 2, "this hour's turns are the newest point");
    assert.equal(
      support.hourly.reduce((n, h) => n + h.turns, 0),
      2,
    );
  });

  it("lists an agent's conversations with their turns, definition version and end user", async () => {
    const res = await api.call(`/api/v1/admin/agents/acme/support-bot/conversations`, { key: admin });
    assert.equal(res.status, 200, await res.clone().text());
    const { conversations } = (await res.json()) as Conversations;
    assert.equal(conversations.length, 1);
    assert.equal(conversations[0]!.id, sessionId);
    assert.equal(conversations[0]!.turns, 2);
    assert.equal(conversations[0]!.agentVersion, 2);

    const theirs = (await (
      await api.call(`/api/v1/admin/agents/acme/upstream-bot/conversations`, { key: admin })
    ).json()) as Conversations;
    assert.deepEqual(
      theirs.conversations.map((c) => [c.id, c.turns, c.userId]),
      [[conversationId, 2, "user-42"]],
    );
  });

  it("a tenant admin sees its own tenant only; another tenant's agents are as absent as unknown ones", async () => {
    assert.equal((await api.call("/api/v1/admin/agents/acme", { key: otherAdmin })).status, 404);
    assert.equal(
      (await api.call("/api/v1/admin/agents/acme/support-bot/conversations", { key: otherAdmin })).status,
      404,
    );
    assert.equal(
      (await api.call("/api/v1/admin/agents/globex/support-bot/conversations", { key: otherAdmin })).status,
      404,
    );
    const own = await overview("globex", otherAdmin);
    assert.deepEqual(
      own.agents.map((a) => [a.name, a.last24h.turns, a.activeSessions]),
      [["assistant", 0, 0]],
    );
    assert.equal((await api.call("/api/v1/admin/agents/acme", { key })).status, 403, "agents keys are not admin keys");
    const platform = await overview("acme", api.adminToken);
    assert.equal(platform.agents.find((a) => a.name === "support-bot")!.last24h.turns, 2);
  });
});
