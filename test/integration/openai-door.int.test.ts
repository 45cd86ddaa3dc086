// The OpenAI door with the official `openai` client, unchanged: models are the tenant's agents, chat
// completions answer plain and streamed, errors raise the client's typed errors, and an agent with its
// own upstream receives the agent's and the request's instructions, then the messages.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { type ApiFixture, startApi, openaiClient } from "../helpers/api";
import { FAKE_USAGE, type FakeLlm, startFakeLlm } from "../helpers/fake-llm";

describe("the OpenAI door with the official client", () => {
  let api: ApiFixture;
  let upstream: FakeLlm;
  let client: OpenAI;
  let other: OpenAI;
  let key: string;

  const openai = (apiKey: string) => openaiClient(api.url, apiKey);

  before(async () => {
    upstream = await startFakeLlm(() => "Support Bot at your service today");
    api = await startApi({ STATEHOUSE_AGENT_BASE_URLS: upstream.baseUrl });
    ({ key } = await api.clientFor("acme", ["agents:invoke", "agents:manage"]));
    client = openai(key);
    other = openai((await api.clientFor("globex", ["agents:invoke", "agents:manage"])).key);
    const define = (name: string, definition: object) => api.send("PUT", `/api/v1/agents/${name}`, definition, { key });
    assert.equal((await define("support-bot", { instructions: "You are Support Bot." })).status, 201);
    assert.equal(
      (
        await define("upstream-bot", {
          instructions: "You are Upstream Bot.",
          model: { provider: "openai-compatible", baseUrl: upstream.baseUrl, name: "up-model" },
        })
      ).status,
      201,
    );
  });
  after(async () => {
    await api.close();
    await upstream.close();
  });

  it("models.list() names the tenant's agents and no other tenant's; retrieve() finds one", async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    assert.deepEqual(ids, ["assistant", "support-bot", "upstream-bot"]);
    const theirs: string[] = [];
    for await (const model of other.models.list()) theirs.push(model.id);
    assert.deepEqual(theirs, ["assistant"]);
    const one = await client.models.retrieve("support-bot");
    assert.equal(one.object, "model");
    assert.equal(one.owned_by, "acme");
  });

  it("chat.completions.create() answers from the messages sent, with usage; nothing is stored", async () => {
    const completion = await client.chat.completions.create({
      model: "support-bot",
      messages: [
        { role: "system", content: "Answer briefly." },
        { role: "user", content: "Hi, my email is ada@example.com" },
        { role: "assistant", content: "Noted." },
        { role: "user", content: "What is my email?" },
      ],
    });
    assert.equal(completion.object, "chat.completion");
    assert.match(completion.id, /^chatcmpl-/);
    assert.equal(completion.model, "support-bot");
    assert.equal(completion.choices[0]!.message.content, "Your email is ada@example.com.");
    assert.equal(completion.choices[0]!.finish_reason, "stop");
    assert.ok(completion.usage!.prompt_tokens > 0 && completion.usage!.completion_tokens > 0);
    assert.equal(completion.usage!.total_tokens, completion.usage!.prompt_tokens + completion.usage!.completion_tokens);
    const sessions = await api.call("/api/v1/state/sessions", { key });
    assert.equal(sessions.status, 403, "a completion writes no session (and the key cannot list them anyway)");
  });

  it("streams chat.completion.chunk events whose deltas join to the reply, then usage when asked", async () => {
    const stream = await client.chat.completions.create({
      model: "assistant",
      messages: [
        { role: "user", content: "My name is Grace Hopper" },
        { role: "user", content: "What is my name?" },
      ],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    const finishes: (string | null)[] = [];
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      assert.equal(chunk.object, "chat.completion.chunk");
      if (chunk.usage) usage = chunk.usage;
      for (const choice of chunk.choices) {
        text += choice.delta.content ?? "";
        finishes.push(choice.finish_reason);
      }
    }
    assert.equal(text, "Your name is Grace Hopper.");
    assert.equal(finishes.at(-1), "stop");
    assert.ok(usage && usage.completion_tokens > 0);
  });

  it("an agent's own upstream gets one system message (the agent's and the request's instructions), then the messages; its tokens stream in order", async () => {
    const stream = await client.chat.completions.create({
      model: "upstream-bot",
      messages: [
        { role: "developer", content: "Reply in English." },
        { role: "user", content: "Hello there" },
      ],
      stream: true,
    });
    const pieces: string[] = [];
    for await (const chunk of stream) for (const c of chunk.choices) if (c.delta.content) pieces.push(c.delta.content);
    assert.deepEqual(pieces, ["Support ", "Bot ", "at ", "your ", "service ", "today"]);
    const request = upstream.seen.at(-1)!;
    assert.equal(request.body.model, "up-model");
    assert.equal(request.body.stream, true);
    const [system, ...rest] = request.body.messages;
    assert.equal(system!.role, "system");
    assert.ok(system!.content.startsWith("You are Upstream Bot.\nReply in English."), system!.content);
    assert.deepEqual(rest, [{ role: "user", content: "Hello there" }]);
  });

  it("an upstream's own token counts are the usage the client gets, plain and streamed", async () => {
    const plain = await client.chat.completions.create({
      model: "upstream-bot",
      messages: [{ role: "user", content: "Count my tokens" }],
    });
    assert.deepEqual(plain.usage, FAKE_USAGE);
    const stream = await client.chat.completions.create({
      model: "upstream-bot",
      messages: [{ role: "user", content: "Count my tokens" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    assert.deepEqual(usage, FAKE_USAGE);
    const response = await client.responses.create({ model: "upstream-bot", input: "Count my tokens", store: false });
    assert.equal(response.usage!.input_tokens, FAKE_USAGE.prompt_tokens);
    assert.equal(response.usage!.output_tokens, FAKE_USAGE.completion_tokens);
  });

  it("the README's quickstart answers as the README says", async () => {
    const completion = await client.chat.completions.create({
      model: "assistant",
      messages: [
        { role: "user", content: "My name is Ada Lovelace." },
        { role: "user", content: "What is my name?" },
      ],
    });
    assert.equal(completion.choices[0]!.message.content, "Your name is Ada Lovelace.");
  });

  it("model calls are measured as OpenTelemetry's GenAI conventions name them, with no agent name in a label", async () => {
    await client.chat.completions.create({ model: "upstream-bot", messages: [{ role: "user", content: "Hi" }] });
    await client.chat.completions.create({ model: "support-bot", messages: [{ role: "user", content: "Hi" }] });
    const metrics = await (await fetch(`${api.url}/metrics`)).text();
    const series = (name: string) => metrics.split("\n").filter((l) => l.startsWith(name));
    const calls = series("gen_ai_client_operation_duration_count");
    assert.ok(
      calls.some(
        (l) =>
          /gen_ai_operation_name="chat"/.test(l) &&
          /gen_ai_provider_name="openai"/.test(l) &&
          /statehouse_agent="custom"/.test(l),
      ),
      calls.join("\n"),
    );
    assert.ok(
      calls.some((l) => /gen_ai_provider_name="statehouse"/.test(l)),
      "the offline model is measured too",
    );
    const tokens = series("gen_ai_client_token_usage_count");
    for (const type of ["input", "output"])
      assert.ok(
        tokens.some((l) => l.includes(`gen_ai_token_type="${type}"`)),
        `${type} tokens: ${tokens.join("\n")}`,
      );
    assert.doesNotMatch(metrics, /support-bot|upstream-bot/, "tenants' agent names never become labels");
  });

  it("raises the client's typed errors: unknown model, bad key, missing scope, malformed request", async () => {
    await assert.rejects(
      client.chat.completions.create({ model: "no-such-agent", messages: [{ role: "user", content: "hi" }] }),
      (err: unknown) => {
        assert.ok(err instanceof OpenAI.NotFoundError, String(err));
        assert.equal(err.code, "model_not_found");
        assert.equal(err.param, "model");
        return true;
      },
    );
    await assert.rejects(other.models.retrieve("support-bot"), OpenAI.NotFoundError, "another tenant's agent");
    await assert.rejects(client.get("/assistants"), OpenAI.NotFoundError, "an API the door does not serve");
    const wrongMethod = await fetch(`${api.url}/api/openai/v1/models`, { method: "DELETE" });
    assert.equal(wrongMethod.status, 405);
    assert.equal(((await wrongMethod.json()) as { error: { type: string } }).error.type, "invalid_request_error");
    await assert.rejects(openai("shk_nope_nope").models.list(), OpenAI.AuthenticationError);
    const stateOnly = openai((await api.clientFor("acme", ["state:read"])).key);
    await assert.rejects(stateOnly.models.list(), OpenAI.PermissionDeniedError);
    await assert.rejects(
      client.chat.completions.create({ model: "assistant", messages: [{ role: "assistant", content: "only me" }] }),
      (err: unknown) => err instanceof OpenAI.BadRequestError && err.param === "messages",
    );
  });
});
