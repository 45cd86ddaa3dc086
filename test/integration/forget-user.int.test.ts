// Forgetting a user (DELETE /api/v1/memories?userId=) on a real server with PostgreSQL, Redis and the
// filesystem archive: every trace docs/memory.md lists is gone from every tier (read back through the
// API, and looked for in the database, Redis and the archive's files), what is not the user's stays,
// and a key without agents:invoke is refused before anything is removed.
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Client } from "@langchain/langgraph-sdk";
import { Redis } from "ioredis";
import OpenAI from "openai";
import pg from "pg";
import { type ApiFixture, openaiClient, startApi } from "../helpers/api";

const SCOPES = ["agents:invoke", "agents:manage", "memories:read", "memories:write"];
/** What only ada's state holds: her words, her id as a user, a Store path under her. */
const ADA = 'Ada|ada@|"userId":"ada"|"user_id":"ada"|"users","ada"';

describe("forgetting a user", () => {
  let api: ApiFixture;
  let db: pg.Client;
  let key: string;
  let otherTenantKey: string;

  before(async () => {
    // Expired sessions go to the archive, and their tombstones leave warm 3 s later: then the archive
    // alone holds them.
    api = await startApi({ STATEHOUSE_SWEEP_INTERVAL_MS: "200", STATEHOUSE_TOMBSTONE_RETENTION_SECONDS: "3" });
    ({ key } = await api.clientFor("acme", SCOPES));
    ({ key: otherTenantKey } = await api.clientFor("globex", SCOPES));
    db = new pg.Client({ connectionString: api.db.url });
    await db.connect();
    for (const [name, definition] of [
      ["concierge", { memory: { longTerm: true } }],
      // Idle for a second, then the sweeper moves the session to the archive.
      ["brief", { session: { idleTtlSeconds: 1 } }],
    ] as const)
      assert.equal((await api.send("PUT", `/api/v1/agents/${name}`, definition, { key })).status, 201);
  });
  after(async () => {
    await db.end();
    await api.close();
  });

  const ok = async (res: Response, status = 200) => {
    assert.equal(res.status, status, await res.clone().text());
    return res.json() as Promise<Record<string, unknown>>;
  };
  const remember = (userId: string, text: string, extra: object = {}, k = key, headers = {}) =>
    api.send("POST", "/api/v1/memories", { userId, text, ...extra }, { key: k, headers });
  const session = async (agent: string, userId: string, message: string) => {
    const { sessionId } = await ok(
      await api.send("POST", `/api/v1/agents/${agent}/sessions`, { userId }, { key }),
      201,
    );
    await ok(
      await api.send("POST", `/api/v1/agents/${agent}/sessions/${sessionId}/messages`, { content: message }, { key }),
    );
    return sessionId as string;
  };
  const archiveDir = () => path.join(api.env.STATEHOUSE_DATA_DIR!, "archive", "acme");
  const rows = async (sql: string, ...params: unknown[]) => (await db.query(sql, params)).rows;
  const until = async (what: string, probe: () => Promise<boolean>, ms = 10_000) => {
    for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50)))
      if (await probe()) return;
    throw new Error(`${what} within ${ms} ms`);
  };
  const forget = (userId: string, k?: string) =>
    api.call(`/api/v1/memories?userId=${userId}`, { method: "DELETE", key: k ?? key });

  it("removes every trace of the user from every tier and keeps everyone else's", async () => {
    // --- the user's state, through every door ---
    // A session that expired into the archive, its tombstone since purged from warm: the archive alone has it.
    const archived = await session("brief", "ada", "Remember that I like tea.");
    await until(
      "the expired session archived and gone from warm",
      async () =>
        (await rows(`SELECT 1 FROM state_records WHERE tenant='acme' AND namespace='sessions' AND key=$1`, archived))
          .length === 0 &&
        (await filesUnder(archiveDir())).some((f) => f.includes(Buffer.from(archived).toString("base64url"))),
    );

    const vegetarian = await ok(await remember("ada", "Ada is vegetarian."), 201);
    await ok(await remember("ada", "Ada's email is ada@old.example.", { subject: "email" }), 201);
    await ok(await remember("ada", "Ada's email is ada@example.com.", { subject: "email" }));
    const dropped = await ok(await remember("ada", "Ada once lived in Lisbon."), 201);
    const replayed = await remember("ada", "Ada plays chess.", {}, key, { "idempotency-key": "chess-1" });
    assert.equal(replayed.status, 201);

    const live = await session("concierge", "ada", "Hi! My email is ada@example.com.");
    // the promoted memory (off the request path) must exist before we forget, or it could land after
    await until(
      "the turn's memory promoted",
      async () =>
        (
          await rows(
            `SELECT 1 FROM state_records WHERE tenant='acme' AND namespace='memories' AND value::text LIKE '%"sessionId":"${live}"%'`,
          )
        ).length > 0,
    );

    const openai = openaiClient(api.url, key);
    const conversation = await openai.conversations.create({ metadata: { user_id: "ada" } });
    await openai.responses.create({ model: "concierge", conversation: conversation.id, input: "My name is Ada." });
    const response = await openai.responses.create({
      model: "concierge",
      input: "Hello",
      metadata: { user_id: "ada" },
    });
    // continued without naming the user again: it holds her words too
    const continued = await openai.responses.create({
      model: "concierge",
      input: "My cat is called Tom.",
      previous_response_id: response.id,
    });

    const store = new Client({ apiUrl: `${api.url}/api/langgraph`, apiKey: key, callerOptions: { maxRetries: 0 } });
    await store.store.putItem(["users", "ada", "prefs"], "diet", { text: "vegetarian" });
    await store.store.putItem(["users", "ada"], "old", { text: "gone" });
    await store.store.putItem(["users", "bob", "prefs"], "diet", { text: "vegan" });
    await store.store.putItem(["misc"], "ada", { text: "a key named ada is not a user's path" });

    // --- everyone else's ---
    const bobs = await ok(await remember("bob", "Bob is vegan.", {}, key, { "idempotency-key": "bob-1" }), 201);
    const bobSession = await session("concierge", "bob", "I like jazz.");
    const globexAda = await ok(await remember("ada", "Globex's Ada likes tea.", {}, otherTenantKey), 201);

    // Deleted just before forgetting (tombstones stay 3 s here): found through their history.
    assert.equal((await api.call(`/api/v1/memories/${dropped.id}`, { method: "DELETE", key })).status, 204);
    await store.store.deleteItem(["users", "ada"], "old");

    // --- a key that could not delete sessions cannot forget, and nothing is removed by trying ---
    const { key: memoriesOnly } = await api.clientFor("acme", ["memories:read", "memories:write"]);
    const refused = await forget("ada", memoriesOnly);
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { requiredScope?: string }).requiredScope, "agents:invoke");
    await ok(await api.call(`/api/v1/memories/${vegetarian.id}`, { key }));

    // --- forget ---
    const forgotten = await forget("ada");
    assert.equal(forgotten.status, 204, await forgotten.clone().text());

    // Through the API: nothing of ada answers.
    assert.deepEqual((await ok(await api.call("/api/v1/memories?userId=ada", { key }))).memories, []);
    assert.equal((await api.call(`/api/v1/memories/${vegetarian.id}`, { key })).status, 404);
    for (const [agent, sid] of [
      ["concierge", live],
      ["brief", archived],
    ])
      assert.equal((await api.call(`/api/v1/agents/${agent}/sessions/${sid}`, { key })).status, 404, sid);
    await assert.rejects(openai.conversations.retrieve(conversation.id), OpenAI.NotFoundError);
    await assert.rejects(openai.responses.retrieve(response.id), OpenAI.NotFoundError);
    await assert.rejects(openai.responses.retrieve(continued.id), OpenAI.NotFoundError);
    assert.equal(await store.store.getItem(["users", "ada", "prefs"], "diet"), null);
    const again = await remember("ada", "Ada plays chess.", {}, key, { "idempotency-key": "chess-1" });
    assert.equal(again.headers.get("idempotent-replayed"), null, "the replay was forgotten: the request ran again");
    assert.equal((await forget("ada")).status, 204); // and forget that one too

    // In PostgreSQL: no record, version or outbox event of acme names ada or holds what she said.
    const traces = (table: string, column: string) =>
      rows(`SELECT key FROM ${table} WHERE tenant='acme' AND (${column}::text ~ $1 OR key ~ '"users","ada"')`, ADA);
    assert.deepEqual(await traces("state_records", "value"), []);
    assert.deepEqual(await traces("state_history", "value"), []);
    assert.deepEqual(await traces("outbox_events", "payload"), []);
    for (const sid of [live, archived]) {
      assert.deepEqual(await rows(`SELECT key FROM state_records WHERE tenant='acme' AND key LIKE '%' || $1`, sid), []);
      assert.deepEqual(await rows(`SELECT key FROM outbox_events WHERE tenant='acme' AND key LIKE '%' || $1`, sid), []);
    }
    const redacted = await rows(`SELECT payload::text FROM outbox_events WHERE tenant='acme' AND key = ''`);
    assert.ok(redacted.length > 0 && redacted.every((r) => JSON.parse(r.payload).redacted === true));

    // In the archive: the archived session's object and pointer are gone.
    assert.deepEqual(
      (await filesUnder(archiveDir())).filter((f) => f.includes(Buffer.from(archived).toString("base64url"))),
      [],
    );

    // In Redis: no value mentions ada; what is left of her keys are short-lived markers without values.
    const redis = new Redis(api.redis.url);
    try {
      for (const k of await redis.keys(`${api.env.STATEHOUSE_KEY_PREFIX}r:{acme/*`)) {
        const [v, d, r] = await redis.hmget(k, "v", "d", "r");
        assert.ok(!new RegExp(ADA).test(r ?? ""), `${k} holds ${r?.slice(0, 80)}`);
        if (v !== null && d === "1") assert.ok((await redis.pttl(k)) > 0, `${k} is a marker that expires`);
      }
    } finally {
      redis.disconnect();
    }

    // Everyone else's state stays, their idempotency replays too.
    const bobAgain = await remember("bob", "Bob is vegan.", {}, key, { "idempotency-key": "bob-1" });
    assert.equal(bobAgain.headers.get("idempotent-replayed"), "true");
    await ok(await api.call(`/api/v1/memories/${bobs.id}`, { key }));
    await ok(await api.call(`/api/v1/agents/concierge/sessions/${bobSession}`, { key }));
    await ok(await api.call(`/api/v1/memories/${globexAda.id}`, { key: otherTenantKey }));
    assert.deepEqual((await store.store.getItem(["users", "bob", "prefs"], "diet"))?.value, { text: "vegan" });
    assert.ok(await store.store.getItem(["misc"], "ada"), "an item only keyed 'ada' is not under the user's path");

    // The user can be remembered again from nothing.
    const fresh = await ok(await remember("ada", "Ada is vegetarian."), 201);
    assert.equal(fresh.version, 1);
  });

  it("answers 204 for a user with nothing, 400 for a malformed user id, 401 without a key", async () => {
    assert.equal((await forget("nobody-here")).status, 204);
    const malformed = await forget("%20bad");
    assert.equal(malformed.status, 400, await malformed.clone().text());
    assert.equal((await api.call("/api/v1/memories?userId=ada", { method: "DELETE" })).status, 401);
  });
});

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  return entries.map(String);
}
