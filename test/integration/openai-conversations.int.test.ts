// Server-side conversation state through the OpenAI door, with the official `openai` client unchanged:
// conversations are sessions (versioned, windowed, visible on the session routes), responses continue a
// conversation or a previous response (also after a restart), and streams carry OpenAI's event sequence.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { type ApiFixture, startApi, openaiClient } from "../helpers/api";

describe("conversations and responses with the official client", () => {
  let api: ApiFixture;
  let client: OpenAI;
  let other: OpenAI;
  let key: string;

  const openai = (apiKey: string) => openaiClient(api.url, apiKey);

  before(async () => {
    api = await startApi();
    ({ key } = await api.clientFor("acme", ["agents:invoke", "agents:manage", "state:read"]));
    client = openai(key);
    other = openai((await api.clientFor("globex", ["agents:invoke"])).key);
    assert.equal(
      (await api.send("PUT", "/api/v1/agents/support-bot", { instructions: "Be brief." }, { key })).status,
      201,
    );
  });
  after(() => api.close());

  it("a conversation remembers across responses; its items are the turns; it is a versioned session", async () => {
    const conversation = await client.conversations.create({ metadata: { user_id: "u-1" } });
    assert.match(conversation.id, /^conv_[0-9a-f]{32}$/);
    assert.equal(conversation.object, "conversation");
    assert.deepEqual(conversation.metadata, { user_id: "u-1" });

    const first = await client.responses.create({
      model: "support-bot",
      conversation: conversation.id,
      input: "Hi, my email is ada@example.com",
    });
    assert.match(first.id, /^resp_/);
    assert.equal(first.status, "completed");
    assert.deepEqual(first.conversation, { id: conversation.id });
    const second = await client.responses.create({
      model: "support-bot",
      conversation: conversation.id,
      input: [{ role: "user", content: "what is my email?" }],
    });
    assert.equal(second.output_text, "Your email is ada@example.com.");
    assert.ok(second.usage!.input_tokens > 0 && second.usage!.output_tokens > 0);

    const items: { role: string; text: string }[] = [];
    for await (const item of client.conversations.items.list(conversation.id, { order: "asc" })) {
      assert.equal(item.type, "message");
      if (item.type === "message")
        items.push({ role: item.role, text: item.content.map((c) => ("text" in c ? c.text : "")).join("") });
    }
    assert.deepEqual(
      items.map((i) => i.role),
      ["user", "assistant", "user", "assistant"],
    );
    assert.equal(items[2]!.text, "what is my email?");
    const newestFirst = await client.conversations.items.list(conversation.id, { limit: 1 });
    assert.equal(newestFirst.data.length, 1);
    assert.equal(newestFirst.has_more, true);

    // The same record is the session behind /api/v1/agents/{agent}/sessions/{id}, with its versions.
    const session = await api.call(`/api/v1/agents/support-bot/sessions/${conversation.id}`, { key });
    assert.equal(session.status, 200);
    const body = (await session.json()) as { turnCount: number; entities: { email?: string }; version: number };
    assert.equal(body.turnCount, 2);
    assert.equal(body.entities.email, "ada@example.com");
    const history = await api.call(`/api/v1/state/sessions/${conversation.id}/history`, { key });
    assert.equal(history.status, 200);
    const versions = ((await history.json()) as { versions: unknown[] }).versions;
    assert.equal(versions.length, 3, "created, then one version per response");

    await assert.rejects(
      client.responses.create({ model: "assistant", conversation: conversation.id, input: "hi" }),
      (err: unknown) => err instanceof OpenAI.BadRequestError && err.param === "model",
      "a conversation bound to one agent is not answered by another",
    );
    await assert.rejects(other.conversations.retrieve(conversation.id), OpenAI.NotFoundError, "another tenant's");
    await assert.rejects(
      other.responses.create({ model: "assistant", conversation: conversation.id, input: "hi" }),
      OpenAI.NotFoundError,
    );

    const updated = await client.conversations.update(conversation.id, { metadata: { user_id: "u-2" } });
    assert.deepEqual(updated.metadata, { user_id: "u-2" });
    const deleted = await client.conversations.delete(conversation.id);
    assert.equal(deleted.deleted, true);
    await assert.rejects(client.conversations.retrieve(conversation.id), OpenAI.NotFoundError);
  });

  it("items added to a conversation are its memory for the next response", async () => {
    const conversation = await client.conversations.create({
      items: [{ type: "message", role: "user", content: "I have a dentist appointment on March 14, 2027." }],
    });
    const added = await client.conversations.items.create(conversation.id, {
      items: [{ type: "message", role: "assistant", content: "Noted." }],
    });
    assert.equal(added.data.length, 1);
    const answer = await client.responses.create({
      model: "assistant",
      conversation: conversation.id,
      input: "Can you note that John Smith will join?",
    });
    assert.equal(answer.output_text, "Noted: John Smith will join.");
    const who = await client.responses.create({
      model: "assistant",
      conversation: conversation.id,
      input: "Who will join?",
    });
    assert.match(who.output_text, /^John Smith\b/);
  });

  it("previous_response_id chains without a conversation, forks, and survive a restart", async () => {
    const a = await client.responses.create({ model: "assistant", input: "My name is Grace Hopper." });
    const b = await client.responses.create({
      model: "assistant",
      previous_response_id: a.id,
      input: "What is my name?",
    });
    assert.equal(b.output_text, "Your name is Grace Hopper.");
    assert.equal(b.previous_response_id, a.id);
    const fork = await client.responses.create({ model: "assistant", input: "My name is Alan Turing." });
    await api.restart();
    client = openai(key); // the restarted server listens on a new port
    const c = await client.responses.create({
      model: "assistant",
      previous_response_id: b.id,
      input: "What is my name?",
    });
    assert.equal(c.output_text, "Your name is Grace Hopper.", "the chain's memory, after a restart");
    const d = await client.responses.create({
      model: "assistant",
      previous_response_id: fork.id,
      input: "What is my name?",
    });
    assert.equal(d.output_text, "Your name is Alan Turing.");

    const fetched = await client.responses.retrieve(c.id);
    assert.equal(fetched.id, c.id);
    assert.equal(fetched.output_text, "Your name is Grace Hopper.");
    const inputs = [];
    for await (const item of client.responses.inputItems.list(c.id)) inputs.push(item);
    assert.equal(inputs.length, 1);
    await client.responses.delete(c.id);
    await assert.rejects(client.responses.retrieve(c.id), OpenAI.NotFoundError);

    const unstored = await client.responses.create({ model: "assistant", input: "Hello", store: false });
    await assert.rejects(client.responses.retrieve(unstored.id), OpenAI.NotFoundError, "store: false keeps nothing");
    await assert.rejects(
      client.responses.create({ model: "assistant", previous_response_id: "resp_nope", input: "hi" }),
      OpenAI.NotFoundError,
    );
    const conversation = await client.conversations.create();
    await assert.rejects(
      client.responses.create({
        model: "assistant",
        previous_response_id: a.id,
        conversation: conversation.id,
        input: "hi",
      }),
      OpenAI.BadRequestError,
    );
  });

  it("streams OpenAI's event sequence, numbered, with deltas that join to the completed text", async () => {
    const conversation = await client.conversations.create();
    await client.responses.create({
      model: "assistant",
      conversation: conversation.id,
      input: "my email is lin@example.com",
    });
    const stream = await client.responses.create({
      model: "assistant",
      conversation: conversation.id,
      input: "what is my email?",
      stream: true,
    });
    const types: string[] = [];
    const sequence: number[] = [];
    let deltas = "";
    let completed: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      types.push(event.type);
      sequence.push(event.sequence_number);
      if (event.type === "response.output_text.delta") deltas += event.delta;
      if (event.type === "response.completed") completed = event.response;
    }
    assert.deepEqual(
      [...new Set(types)],
      [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
      ],
    );
    assert.deepEqual(
      sequence,
      sequence.map((_, i) => i),
    );
    assert.equal(deltas, "Your email is lin@example.com.");
    assert.equal(completed!.status, "completed");
    const output = completed!.output[0] as OpenAI.Responses.ResponseOutputMessage;
    assert.equal((output.content[0] as OpenAI.Responses.ResponseOutputText).text, deltas);

    // The client's stream helper assembles the same text.
    const helper = client.responses.stream({
      model: "assistant",
      conversation: conversation.id,
      input: "what is my email?",
    });
    const final = await helper.finalResponse();
    assert.equal(final.output_text, "Your email is lin@example.com.");
  });
});
