// Long-term memory in agents' turns: an agent whose memory policy has longTerm promotes what a user
// tells it (off the request path) and a new session of the same user answers from it; a newer value
// replaces the older as a new version; other users, other tenants and agents without longTerm keep
// nothing of it; an upstream model is told the recalled memories; the OpenAI door's metadata.user_id
// names the user.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ApiFixture, startApi, openaiClient } from "../helpers/api";
import { type FakeLlm, startFakeLlm } from "../helpers/fake-llm";

/** The fake upstream's extraction: a pet's name when the message names one, else nothing (or junk, for "junk"). */
const EXTRACTED = (message: string) => {
  if (message.includes("junk")) return "Sure! Here are the memories: none.";
  const pet = /called (\w+)/.exec(message)?.[1];
  return pet
    ? `\`\`\`json\n${JSON.stringify({
        memories: [
          { text: `The user's dog is named ${pet}.`, kind: "fact", subject: "dog-name" },
          { text: "", kind: "fact" },
          { text: "x", kind: "opinion" },
        ],
      })}\n\`\`\``
    : '{"memories": []}';
};

interface Memory {
  id: string;
  text: string;
  subject: string | null;
  kind: string;
  version: number;
  source: { type: string; agent?: string; sessionId?: string; turn?: number };
}

describe("long-term memory in agents' turns", () => {
  let api: ApiFixture;
  let upstream: FakeLlm;
  let key: string;

  before(async () => {
    // The upstream extracts memories when asked to (its own JSON, something the offline extractor would
    // not find), and answers turns with "Noted.".
    upstream = await startFakeLlm((request) =>
      request.body.messages[0]?.content.startsWith("You extract long-term memories")
        ? EXTRACTED(request.body.messages.at(-1)!.content)
        : "Noted.",
    );
    api = await startApi({ STATEHOUSE_AGENT_BASE_URLS: upstream.baseUrl });
    ({ key } = await api.clientFor("acme", ["agents:invoke", "agents:manage", "memories:read", "memories:write"]));
    const define = async (name: string, definition: object) =>
      assert.equal((await api.send("PUT", `/api/v1/agents/${name}`, definition, { key })).status, 201);
    await define("concierge", { memory: { longTerm: true } });
    await define("forgetful", {});
    await define("upstream-concierge", {
      memory: { longTerm: true },
      model: { provider: "openai-compatible", baseUrl: upstream.baseUrl, name: "m" },
    });
  });
  after(async () => {
    await api.close();
    await upstream.close();
  });

  const session = async (agent: string, userId?: string) => {
    const res = await api.send("POST", `/api/v1/agents/${agent}/sessions`, userId ? { userId } : {}, { key });
    assert.equal(res.status, 201, await res.clone().text());
    return ((await res.json()) as { sessionId: string }).sessionId;
  };
  const say = async (agent: string, sessionId: string, content: string) => {
    const res = await api.send("POST", `/api/v1/agents/${agent}/sessions/${sessionId}/messages`, { content }, { key });
    assert.equal(res.status, 200, await res.clone().text());
    return ((await res.json()) as { reply: string }).reply;
  };
  const memoriesOf = async (userId: string) =>
    ((await (await api.call(`/api/v1/memories?userId=${userId}`, { key })).json()) as { memories: Memory[] }).memories;
  const waitFor = async <T>(what: string, probe: () => Promise<T | undefined>, ms = 5000): Promise<T> => {
    for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((r) => setTimeout(r, 25))) {
      const found = await probe();
      if (found !== undefined) return found;
    }
    throw new Error(`${what} within ${ms} ms`);
  };

  it("a new session of the same user answers from what an earlier one was told, within a couple of seconds", async () => {
    const first = await session("concierge", "ada");
    const told = Date.now();
    await say("concierge", first, "Hi! My email is ada@example.com and I am vegetarian.");
    const email = await waitFor("the email promoted to a memory", async () =>
      (await memoriesOf("ada")).find((m) => m.subject === "email"),
    );
    const promotedMs = Date.now() - told;
    assert.ok(promotedMs < 2000, `promoted after ${promotedMs} ms`);
    assert.equal(email.text, "The user's email is ada@example.com.");
    assert.deepEqual(email.source, { type: "session", agent: "concierge", sessionId: first, turn: 1 });

    const second = await session("concierge", "ada");
    assert.equal(await say("concierge", second, "What is my email?"), "Your email is ada@example.com.");
    const stranger = await session("concierge", "bob");
    assert.equal(await say("concierge", stranger, "What is my email?"), "You haven't told me your email yet.");
    const anonymous = await session("concierge");
    assert.equal(await say("concierge", anonymous, "What is my email?"), "You haven't told me your email yet.");
  });

  it("a newer email replaces the older as a new version of the same memory", async () => {
    const s = await session("concierge", "ada");
    await say("concierge", s, "My email is ada@newmail.example now.");
    const email = await waitFor("the new email", async () =>
      (await memoriesOf("ada")).find((m) => m.subject === "email" && m.text.includes("newmail")),
    );
    assert.equal(email.version, 2);
    assert.equal((await memoriesOf("ada")).filter((m) => m.subject === "email").length, 1);
    const later = await session("concierge", "ada");
    assert.equal(await say("concierge", later, "What is my email?"), "Your email is ada@newmail.example.");
  });

  it("an agent without longTerm neither keeps nor recalls memories", async () => {
    const s = await session("forgetful", "carol");
    await say("forgetful", s, "My email is carol@example.com.");
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(await memoriesOf("carol"), []);
    const ada = await session("forgetful", "ada");
    assert.equal(await say("forgetful", ada, "What is my email?"), "You haven't told me your email yet.");
  });

  it("an upstream model is told the user's recalled memories in its system message", async () => {
    const s = await session("upstream-concierge", "ada");
    await say("upstream-concierge", s, "Can you suggest a vegetarian dish to cook tonight?");
    const system = upstream.seen.at(-1)!.body.messages[0]!;
    assert.equal(system.role, "system");
    assert.match(system.content, /What you remember about the user from earlier sessions:\n- /);
    assert.match(system.content, /vegetarian/);
  });

  it("an agent with its own model extracts through that model; an unreadable answer falls back to the offline extractor", async () => {
    const s = await session("upstream-concierge", "erin");
    await say("upstream-concierge", s, "We adopted a puppy called Rex last week.");
    const rex = await waitFor("the model's memory", async () =>
      (await memoriesOf("erin")).find((m) => m.subject === "dog-name"),
    );
    assert.equal(rex.text, "The user's dog is named Rex.");
    const asked = upstream.seen.find(
      (r) => r.body.messages.at(-1)?.content === "We adopted a puppy called Rex last week.",
    );
    assert.ok(asked, "the message went to the model as the user's message");
    assert.equal(
      (await memoriesOf("erin")).length,
      1,
      "the model's invalid items (empty text, unknown kind) are dropped",
    );

    await say("upstream-concierge", s, "I am vegetarian, junk aside.");
    const offline = await waitFor("the offline extractor's memory", async () =>
      (await memoriesOf("erin")).find((m) => m.text.startsWith("I am vegetarian")),
    );
    assert.equal(offline.kind, "preference");
    const questions = upstream.seen.length;
    await say("upstream-concierge", s, "What is my dog called?");
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(upstream.seen.length, questions + 1, "a question is answered, not sent for extraction");
  });

  it("the OpenAI door's metadata.user_id names the user of a conversation", async () => {
    const client = openaiClient(api.url, key);
    const conversation = await client.conversations.create({ metadata: { user_id: "dora" } });
    await client.responses.create({
      model: "concierge",
      conversation: conversation.id,
      input: "My email is dora@example.com.",
    });
    await waitFor("dora's email", async () => (await memoriesOf("dora")).find((m) => m.subject === "email"));
    const reply = await client.responses.create({
      model: "concierge",
      input: "What is my email?",
      metadata: { user_id: "dora" },
      store: false,
    });
    assert.equal(reply.output_text, "Your email is dora@example.com.");
  });

  it("a key without the memory scopes neither recalls nor keeps a user's memories", async () => {
    const { key: invokeOnly } = await api.clientFor("acme", ["agents:invoke"]);
    const created = await api.send("POST", "/api/v1/agents/concierge/sessions", { userId: "ada" }, { key: invokeOnly });
    const { sessionId } = (await created.json()) as { sessionId: string };
    const send = async (content: string) =>
      (
        (await (
          await api.send(
            "POST",
            `/api/v1/agents/concierge/sessions/${sessionId}/messages`,
            { content },
            { key: invokeOnly },
          )
        ).json()) as { reply: string }
      ).reply;
    assert.equal(await send("What is my email?"), "You haven't told me your email yet.", "no recall: memories:read");
    await send("My email is mallory@example.com.");
    await new Promise((r) => setTimeout(r, 500));
    const email = (await memoriesOf("ada")).find((m) => m.subject === "email")!;
    assert.match(email.text, /newmail/, "no promotion: memories:write");
  });

  it("another tenant's users are others", async () => {
    const { key: theirs } = await api.clientFor("globex", ["agents:invoke", "agents:manage"]);
    assert.equal(
      (await api.send("PUT", "/api/v1/agents/concierge", { memory: { longTerm: true } }, { key: theirs })).status,
      201,
    );
    const res = await api.send("POST", "/api/v1/agents/concierge/sessions", { userId: "ada" }, { key: theirs });
    const { sessionId } = (await res.json()) as { sessionId: string };
    const reply = await api.send(
      "POST",
      `/api/v1/agents/concierge/sessions/${sessionId}/messages`,
      { content: "What is my email?" },
      { key: theirs },
    );
    assert.equal(((await reply.json()) as { reply: string }).reply, "You haven't told me your email yet.");
  });

  it("a session body is optional, and a bad userId is refused", async () => {
    const bare = await api.call("/api/v1/agents/concierge/sessions", { key, method: "POST" });
    assert.equal(bare.status, 201);
    for (const body of [{ userId: "" }, { userId: "a/b" }, { userId: 7 }, { other: 1 }])
      assert.equal((await api.send("POST", "/api/v1/agents/concierge/sessions", body, { key })).status, 422);
  });
});
