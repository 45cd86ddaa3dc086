// Stateless and batch agent calls, and the model state (profile vectors) sessions keep, over HTTP on the
// real stores: invoke answers from the context it is sent and writes nothing; a batch of 200 answers
// all 200 with a malformed document reported alone; profile vectors are cached hot, hit on the second
// turn, used by replies, and survive a restart.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Redis } from "ioredis";
import pg from "pg";
import { type ApiFixture, apiSuite, startApi } from "../helpers/api";
import { metricValue } from "../helpers/metrics";
import type { components } from "../../server/client/schema";

/** A turn's answer as the OpenAPI document describes it, with the related topic invoke answers carry. */
type Turn = components["schemas"]["TurnResult"] & Pick<components["schemas"]["InvokeResult"], "relatedTopic">;

const post = (api: ApiFixture, key: string, path: string, body: unknown) => api.send("POST", path, body, { key });

/** Everything stored for a tenant: warm rows (records, history, outbox) and hot keys that hold state. */
async function footprint(api: ApiFixture, tenant: string) {
  const c = new pg.Client({ connectionString: api.db.url });
  await c.connect();
  const redis = new Redis(api.redis.url);
  try {
    const count = async (table: string) =>
      Number((await c.query(`SELECT count(*)::int AS n FROM ${table} WHERE tenant = $1`, [tenant])).rows[0].n);
    const records = (
      await c.query(`SELECT namespace, key, version FROM state_records WHERE tenant = $1 ORDER BY 1, 2`, [tenant])
    ).rows;
    // Rate-limit buckets and quota counters are accounting, not state.
    // Rate-limit and quota counters move with every request, and the outbox relay may publish earlier
    // writes to its stream (`<prefix>events`) at any moment: neither is state this call could write.
    const hotKeys = (await redis.keys(`${api.env.STATEHOUSE_KEY_PREFIX}*`))
      .filter((k) => !/:(rl|quota):/.test(k) && !k.endsWith(":events"))
      .sort();
    return { records, history: await count("state_history"), outbox: await count("outbox_events"), hotKeys };
  } finally {
    await c.end();
    redis.disconnect();
  }
}

describe("stateless and batch agent calls", () => {
  const suite = apiSuite({ keys: { key: "stateless" } });

  it("invoke answers from the context it was sent (entities, summary, earlier topics) and writes nothing", async () => {
    // Some state exists already: a session with a turn. It must be exactly as it was afterwards.
    const created = (await (await post(suite.api, suite.key, "/api/v1/agents/assistant/sessions", {})).json()) as {
      sessionId: string;
    };
    await post(suite.api, suite.key, `/api/v1/agents/assistant/sessions/${created.sessionId}/messages`, {
      content: "my email is kept@example.com",
    });
    const before = await footprint(suite.api, "stateless");
    const sessionBefore = await (
      await suite.api.call(`/api/v1/agents/assistant/sessions/${created.sessionId}`, { key: suite.key })
    ).json();

    const messages = [
      { role: "user", content: "Hi, my name is Alice Johnson and my email is alice@example.com" },
      { role: "assistant", content: "Hello Alice Johnson! How can I help?" },
      { role: "user", content: "I am planning a hiking trip to the Swiss Alps in June" },
      { role: "assistant", content: "Got it." },
    ];
    const recall = await post(suite.api, suite.key, "/api/v1/agents/assistant/invoke", {
      messages: [...messages, { role: "user", content: "what is my email?" }],
    });
    assert.equal(recall.status, 200, await recall.clone().text());
    const r = (await recall.json()) as Turn;
    assert.equal(
      r.reply,
      "Your email is alice@example.com.",
      "answered from the messages sent, not from the tenant's session",
    );
    assert.equal(r.intent, "recall");
    assert.equal(r.turn, 3);
    assert.equal(r.version, null);
    assert.equal(r.degraded, false);
    assert.equal(r.entities.name, "Alice Johnson");

    const topic = (await (
      await post(suite.api, suite.key, "/api/v1/agents/assistant/invoke", {
        messages: [...messages, { role: "user", content: "Which hiking boots are best for the Alps?" }],
      })
    ).json()) as Turn;
    assert.equal(
      topic.relatedTopic?.turn,
      2,
      "the earlier message closest to this one, from the recomputed profile vector",
    );
    assert.match(topic.reply, /turn 2\): "I am planning a hiking trip to the Swiss Alps in June"/);

    // Facts and summary sent along are used as if remembered.
    const phone = (await (
      await post(suite.api, suite.key, "/api/v1/agents/assistant/invoke", {
        entities: { phone: "555-0100" },
        summary: "#1: I live in Zurich.",
        messages: [{ role: "user", content: "what is my phone number?" }],
      })
    ).json()) as Turn;
    assert.equal(phone.reply, "Your phone number is 555-0100.");
    const remembered = (await (
      await post(suite.api, suite.key, "/api/v1/agents/assistant/invoke", {
        summary: "#1: I live in Zurich.",
        messages: [{ role: "user", content: "what did I tell you?" }],
      })
    ).json()) as Turn;
    assert.equal(remembered.reply, "Here's what I remember: #1: I live in Zurich.");

    // Turns beyond the session window (10) become summary lines, as a session would keep them.
    const long = Array.from({ length: 12 }, (_, i) => [
      { role: "user", content: `Fact number ${i + 1}.` },
      { role: "assistant", content: "Got it." },
    ]).flat();
    const summarized = (await (
      await post(suite.api, suite.key, "/api/v1/agents/assistant/invoke", {
        messages: [...long, { role: "user", content: "what did I say?" }],
      })
    ).json()) as Turn;
    assert.equal(summarized.reply, "Here's what I remember: #1: Fact number 1.\n#2: Fact number 2.");

    // Bad context: 4xx, nothing stored either.
    const lastNotUser = await post(suite.api, suite.key, "/api/v1/agents/assistant/invoke", {
      messages: messages.slice(0, 2),
    });
    assert.equal(lastNotUser.status, 422);
    assert.equal(((await lastNotUser.json()) as { code: string }).code, "invalid");
    assert.equal((await post(suite.api, suite.key, "/api/v1/agents/assistant/invoke", { messages: [] })).status, 400);
    assert.equal(
      (
        await post(suite.api, suite.key, "/api/v1/agents/assistant/invoke", {
          messages: [{ role: "system", content: "x" }],
        })
      ).status,
      400,
    );
    assert.equal(
      (
        await post(suite.api, suite.key, "/api/v1/agents/nobody/invoke", {
          messages: [{ role: "user", content: "hi" }],
        })
      ).status,
      404,
    );

    assert.deepEqual(
      await footprint(suite.api, "stateless"),
      before,
      "no record, history entry, outbox event or hot key was written",
    );
    assert.deepEqual(
      await (await suite.api.call(`/api/v1/agents/assistant/sessions/${created.sessionId}`, { key: suite.key })).json(),
      sessionBefore,
    );
  });

  it("a batch of 200 documents answers all 200; a malformed one is reported alone, in its place", async () => {
    const before = await footprint(suite.api, "stateless");
    const documents: unknown[] = Array.from({ length: 200 }, (_, i) => ({
      id: `doc-${i}`,
      text: i % 2 ? `Please book a table for Friday, write to user${i}@example.com` : `Hello there, document ${i}`,
    }));
    documents[57] = { id: "doc-57", text: 42 };
    documents[123] = "not an object";
    const res = await post(suite.api, suite.key, "/api/v1/agents/assistant/batch", { documents });
    assert.equal(res.status, 200, await res.clone().text());
    const body = (await res.json()) as {
      results: {
        index: number;
        id?: string;
        ok: boolean;
        intent?: string;
        entities?: { email?: string; dates?: string[] };
        error?: { code: string; detail: string };
      }[];
      succeeded: number;
      failed: number;
    };
    assert.equal(body.results.length, 200);
    assert.deepEqual(
      body.results.map((r) => r.index),
      Array.from({ length: 200 }, (_, i) => i),
      "answers in the order sent",
    );
    assert.equal(body.succeeded, 198);
    assert.equal(body.failed, 2);
    assert.deepEqual(
      body.results.filter((r) => !r.ok).map((r) => [r.index, r.id, r.error?.code]),
      [
        [57, "doc-57", "invalid"],
        [123, undefined, "invalid"],
      ],
    );
    assert.match(body.results[57]!.error!.detail, /^text:/);
    const request = body.results[59]!;
    assert.equal(request.id, "doc-59");
    assert.equal(request.intent, "request");
    assert.equal(request.entities?.email, "user59@example.com");
    assert.deepEqual(request.entities?.dates, ["Friday"]);
    assert.equal(body.results[58]!.intent, "greeting");

    // Over the documented bound: the whole body is refused before any document is looked at.
    const tooMany = await post(suite.api, suite.key, "/api/v1/agents/assistant/batch", {
      documents: Array.from({ length: 501 }, () => ({ text: "x" })),
    });
    assert.equal(tooMany.status, 400);
    assert.equal((await post(suite.api, suite.key, "/api/v1/agents/assistant/batch", { documents: [] })).status, 400);
    assert.deepEqual(await footprint(suite.api, "stateless"), before, "classification stores nothing");
  });
});

describe("profile vectors (model state in the agents' agent-profiles namespace)", () => {
  it("are cached hot, hit on the second turn, picked up by replies, and survive a restart", async () => {
    const api = await startApi();
    try {
      const { key } = await api.clientFor("profiles");
      const sid = (
        (await (await post(api, key, "/api/v1/agents/assistant/sessions", {})).json()) as { sessionId: string }
      ).sessionId;
      const say = async (content: string) => {
        const res = await post(api, key, `/api/v1/agents/assistant/sessions/${sid}/messages`, { content });
        assert.equal(res.status, 200, await res.clone().text());
        return (await res.json()) as Turn;
      };
      const hotHits = () =>
        metricValue(api, "statehouse_cache_requests_total", {
          namespace: "agent-profiles",
          tier: "hot",
          result: "hit",
        });
      const hotMisses = () =>
        metricValue(api, "statehouse_cache_requests_total", {
          namespace: "agent-profiles",
          tier: "hot",
          result: "miss",
        });

      const [hits0, misses0] = [await hotHits(), await hotMisses()];
      const first = await say("I am planning a hiking trip to the Swiss Alps in June");
      assert.equal(first.relatedTopic, undefined);
      assert.equal(await hotMisses(), misses0 + 1, "first turn: no profile yet, a miss");
      assert.equal(await hotHits(), hits0);

      const second = await say("My budget is $2000 for the whole thing");
      assert.equal(
        await hotHits(),
        hits0 + 1,
        "second turn: the profile written by the first is read from the hot tier",
      );
      assert.equal(second.relatedTopic, undefined, "an unrelated message picks up nothing");

      const profileUrl = `/api/v1/state/agent-profiles/profile:assistant:${sid}`;
      const stored = await api.call(profileUrl, { key });
      assert.equal(stored.status, 200);
      assert.equal(stored.headers.get("statehouse-tier"), "hot");
      const profile = (await stored.json()) as {
        version: number;
        value: {
          model: string;
          dim: number;
          messages: number;
          vector: number[];
          topics: { turn: number; text: string }[];
        };
      };
      assert.equal(profile.value.messages, 2);
      assert.equal(profile.value.dim, 256);
      assert.equal(profile.value.vector.length, 256);
      assert.deepEqual(
        profile.value.topics.map((t) => t.turn),
        [1, 2],
      );

      await api.restart();
      const durable = await api.call(`${profileUrl}?consistency=strong`, { key });
      assert.equal(durable.status, 200, "the profile is in the warm tier (durable namespace)");
      assert.equal(((await durable.json()) as { version: number }).version, profile.version);

      const hitsAfterRestart = await hotHits();
      const third = await say("Which hiking boots should I buy for the Alps?");
      assert.equal(third.relatedTopic?.turn, 1, "the reply picks up the earlier topic from the stored profile");
      assert.match(third.reply, /what you said earlier \(turn 1\): "I am planning a hiking trip/);
      assert.equal(await hotHits(), hitsAfterRestart + 1);
      const after = (await (await api.call(profileUrl, { key })).json()) as { value: { messages: number } };
      assert.equal(after.value.messages, 3);

      // Ending the session removes its model state too.
      assert.equal((await api.call(`/api/v1/agents/assistant/sessions/${sid}`, { method: "DELETE", key })).status, 204);
      assert.equal((await api.call(profileUrl, { key })).status, 404);
    } finally {
      await api.close();
    }
  });
});
