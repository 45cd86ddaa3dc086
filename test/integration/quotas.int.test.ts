// Tenant quotas on the real stores: operations per UTC day (429 with Retry-After until the day rolls
// over) and stored bytes (413 storage_quota_exceeded), set by admins, enforced on state writes,
// transactions and agent calls, never a partial write; usage on /api/v1/quota and the admin routes.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { type ApiFixture, startApi } from "../helpers/api";
import { metricValue } from "../helpers/metrics";

type Problem = { status: number; code: string; detail: string; [k: string]: unknown };
type Usage = {
  tenant: string;
  day: string;
  resetsAt: string;
  operations: { used: number; limit: number | null };
  bytesStored: { used: number; limit: number | null };
};

const MERGE_PATCH = { "content-type": "application/merge-patch+json" };

describe("tenant quotas", () => {
  let api: ApiFixture;
  const setPolicy = (tenant: string, body: unknown) =>
    api.send("PUT", `/api/v1/admin/tenants/${tenant}/policy`, body, { key: api.adminToken });
  const put = (key: string, path: string, value: unknown, headers: Record<string, string> = {}) =>
    api.send("PUT", `/api/v1/state/${path}`, { value }, { key, headers });
  const post = (key: string, path: string, body: unknown) => api.send("POST", path, body, { key });
  const warmRows = async (tenant: string) => {
    const c = new pg.Client({ connectionString: api.db.url });
    await c.connect();
    try {
      const q = async (table: string) =>
        Number((await c.query(`SELECT count(*)::int AS n FROM ${table} WHERE tenant = $1`, [tenant])).rows[0].n);
      return { records: await q("state_records"), history: await q("state_history"), outbox: await q("outbox_events") };
    } finally {
      await c.end();
    }
  };

  before(async () => {
    api = await startApi();
  });
  after(async () => {
    await api.close();
  });

  it("over the daily operations quota: 429 with Retry-After until the UTC day rolls over, nothing written", async () => {
    const { key } = await api.clientFor("q-ops");
    const { key: other } = await api.clientFor("q-other");
    const set = await setPolicy("q-ops", { operationsPerDay: 5 });
    assert.equal(set.status, 200, await set.clone().text());
    assert.deepEqual(((await set.json()) as Usage).operations, { used: 0, limit: 5 });

    for (let i = 0; i < 4; i++) assert.equal((await put(key, `kv/k${i}`, { i })).status, 201);
    const session = await post(key, "/api/v1/agents/assistant/sessions", {});
    assert.equal(session.status, 201, "agent calls count too (the 5th operation)");
    assert.equal((await api.call("/api/v1/state/kv/k0", { key })).status, 200, "reads are not operations");

    const refused = await put(key, "kv/k-over", { over: true });
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get("content-type"), "application/problem+json");
    const problem = (await refused.json()) as Problem;
    assert.equal(problem.code, "operations_quota_exceeded");
    const now = new Date();
    const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
    const retryAfter = Number(refused.headers.get("retry-after"));
    assert.ok(
      Math.abs(retryAfter - (midnight - now.getTime()) / 1000) < 30,
      `Retry-After ${retryAfter} s is the time to the next UTC day`,
    );
    assert.equal(problem.resetsAt, new Date(midnight).toISOString());
    assert.equal((await api.call("/api/v1/state/kv/k-over", { key })).status, 404, "nothing written");

    // Every kind of metered call is refused alike, and none of them writes.
    const rows = await warmRows("q-ops");
    assert.equal(
      (await post(key, "/api/v1/transactions", { operations: [{ op: "put", namespace: "kv", key: "t", value: 1 }] }))
        .status,
      429,
    );
    assert.equal((await api.call("/api/v1/state/kv/k0", { method: "DELETE", key })).status, 429);
    const patched = await api.send("PATCH", "/api/v1/state/kv/k0", { x: 1 }, { key, headers: MERGE_PATCH });
    assert.equal(patched.status, 429);
    assert.equal(
      (await post(key, "/api/v1/agents/assistant/invoke", { messages: [{ role: "user", content: "hi" }] })).status,
      429,
    );
    assert.equal((await post(key, "/api/v1/agents/assistant/batch", { documents: [{ text: "hi" }] })).status, 429);
    assert.deepEqual(await warmRows("q-ops"), rows);

    const usage = (await (await api.call("/api/v1/quota", { key })).json()) as Usage;
    assert.deepEqual(usage.operations, { used: 5, limit: 5 }, "refused calls are not counted");
    assert.equal(usage.resetsAt, new Date(midnight).toISOString());
    assert.equal((await put(other, "kv/free", 1)).status, 201, "other tenants are not affected");

    // A batch counts one operation per document, and is refused whole when they do not all fit.
    assert.equal((await setPolicy("q-ops", { operationsPerDay: 8 })).status, 200);
    const batch = await post(key, "/api/v1/agents/assistant/batch", {
      documents: [{ text: "a" }, { text: "b" }, { text: "c" }, { text: "d" }],
    });
    assert.equal(batch.status, 429, "4 documents do not fit in the 3 operations left");
    assert.equal(
      (await post(key, "/api/v1/agents/assistant/batch", { documents: [{ text: "a" }, { text: "b" }, { text: "c" }] }))
        .status,
      200,
    );
    assert.deepEqual(((await (await api.call("/api/v1/quota", { key })).json()) as Usage).operations, {
      used: 8,
      limit: 8,
    });

    // Lifting the limit applies at once.
    assert.equal((await setPolicy("q-ops", { operationsPerDay: null })).status, 200);
    assert.equal((await put(key, "kv/k-over", { over: true })).status, 201);
  });

  it("over the stored-bytes quota: 413 storage_quota_exceeded and nothing written, for puts, patches, transactions and agent turns", async () => {
    const { key } = await api.clientFor("q-bytes");
    const value = (n: number) => ({ text: "x".repeat(n - 11) }); // {"text":"…"} is n bytes
    assert.equal((await put(key, "kv/a", value(400))).status, 201);
    assert.equal((await setPolicy("q-bytes", { bytesStored: 600 })).status, 200);
    const before = await warmRows("q-bytes");

    const refused = await put(key, "kv/b", value(300));
    assert.equal(refused.status, 413);
    const problem = (await refused.json()) as Problem;
    assert.equal(problem.code, "storage_quota_exceeded");
    assert.equal(problem.limitBytes, 600);
    assert.equal(problem.usedBytes, 400);
    assert.equal((await api.call("/api/v1/state/kv/b", { key })).status, 404);
    assert.equal((await api.call("/api/v1/state/kv/b/history", { key })).status, 404);

    // Replacing a record counts its new size instead of its old one.
    const replaced = await put(key, "kv/a", value(550));
    assert.equal(replaced.status, 200, "550 bytes replace 400: within 600");
    const version = ((await replaced.json()) as { version: number }).version;
    assert.equal((await put(key, "kv/a", value(700))).status, 413);
    const patch = await api.call("/api/v1/state/kv/a", {
      method: "PATCH",
      key,
      headers: { "content-type": "application/merge-patch+json" },
      body: JSON.stringify({ more: "y".repeat(100) }),
    });
    assert.equal(patch.status, 413);
    const tx = await post(key, "/api/v1/transactions", {
      operations: [
        { op: "put", namespace: "kv", key: "c", value: 1 },
        { op: "put", namespace: "kv", key: "d", value: value(100) },
      ],
    });
    assert.equal(tx.status, 413, "the transaction as a whole is over");
    assert.equal((await api.call("/api/v1/state/kv/c", { key })).status, 404, "all or nothing: not even the small put");
    const session = await post(key, "/api/v1/agents/assistant/sessions", {});
    assert.equal(session.status, 413);

    const a = (await (await api.call("/api/v1/state/kv/a", { key })).json()) as { version: number; sizeBytes: number };
    assert.equal(a.version, version, "refused writes left the record as it was");
    assert.equal(a.sizeBytes, 550);
    assert.deepEqual(
      await warmRows("q-bytes"),
      { ...before, history: before.history + 1, outbox: before.outbox + 1 },
      "only the accepted replace was written",
    );

    // Ephemeral namespaces (hot only) do not count; deletes always pass and free space.
    assert.equal((await put(key, "breakers/b1", { open: false })).status, 201);
    assert.equal((await api.call("/api/v1/state/kv/a", { method: "DELETE", key })).status, 204);
    assert.equal((await put(key, "kv/b", value(300))).status, 201);

    const usage = (await (await api.call("/api/v1/quota", { key })).json()) as Usage;
    assert.deepEqual(usage.bytesStored, { used: 300, limit: 600 });
    assert.ok((await metricValue(api, "statehouse_lifecycle_events_total", { event: "quota_refused" })) >= 5);
  });

  it("an agent turn over the stored-bytes quota writes neither the session nor its profile", async () => {
    const { key } = await api.clientFor("q-agent");
    const sid = ((await (await post(key, "/api/v1/agents/assistant/sessions", {})).json()) as { sessionId: string })
      .sessionId;
    assert.equal(
      (await post(key, `/api/v1/agents/assistant/sessions/${sid}/messages`, { content: "I like sailing on lakes" }))
        .status,
      200,
    );
    const used = ((await (await api.call("/api/v1/quota", { key })).json()) as Usage).bytesStored.used;
    assert.equal((await setPolicy("q-agent", { bytesStored: used + 50 })).status, 200);
    const before = await warmRows("q-agent");
    const turn = await post(key, `/api/v1/agents/assistant/sessions/${sid}/messages`, {
      content: `Here is a long story: ${"and then we sailed on. ".repeat(20)}`,
    });
    assert.equal(turn.status, 413);
    assert.equal(((await turn.json()) as Problem).code, "storage_quota_exceeded");
    assert.deepEqual(await warmRows("q-agent"), before);
    const session = (await (await api.call(`/api/v1/agents/assistant/sessions/${sid}`, { key })).json()) as {
      turnCount: number;
    };
    assert.equal(session.turnCount, 1);
    const profile = (await (
      await api.call(`/api/v1/state/agent-profiles/profile:assistant:${sid}`, { key })
    ).json()) as { value: { messages: number } };
    assert.equal(profile.value.messages, 1);
  });

  it("admin routes: per-tenant usage and limits; bad input is a 4xx and changes nothing; non-admins are refused", async () => {
    const { key } = await api.clientFor("q-admin");
    assert.equal((await setPolicy("q-admin", { operationsPerDay: 100, bytesStored: 10_000 })).status, 200);
    assert.equal((await put(key, "kv/x", { hello: "world" })).status, 201);
    const one = (await (
      await api.call("/api/v1/admin/tenants/q-admin/policy", { key: api.adminToken })
    ).json()) as Usage;
    assert.deepEqual(one.operations, { used: 1, limit: 100 });
    assert.deepEqual(one.bytesStored, { used: 17, limit: 10_000 });
    const all = (await (await api.call("/api/v1/admin/quotas", { key: api.adminToken })).json()) as {
      tenants: Usage[];
    };
    assert.deepEqual(all.tenants.find((t) => t.tenant === "q-admin")?.operations, { used: 1, limit: 100 });

    assert.equal((await setPolicy("q-admin", { operationsPerDay: -1 })).status, 400);
    assert.equal((await setPolicy("q-admin", { operationsPerDay: 1.5 })).status, 400);
    assert.equal((await setPolicy("q-admin", { unknownField: 1 })).status, 400);
    assert.equal((await setPolicy("Bad Tenant!", { operationsPerDay: 1 })).status, 422);
    assert.equal(
      (await api.send("PUT", "/api/v1/admin/tenants/q-admin/policy", { operationsPerDay: 1 }, { key })).status,
      403,
    );
    // Partial updates keep the other fields.
    assert.equal((await setPolicy("q-admin", { bytesStored: 20_000 })).status, 200);
    const kept = (await (
      await api.call("/api/v1/admin/tenants/q-admin/policy", { key: api.adminToken })
    ).json()) as Usage;
    assert.deepEqual([kept.operations.limit, kept.bytesStored.limit], [100, 20_000]);
  });

  it("quotas are durable: they hold after a restart", async () => {
    const { key } = await api.clientFor("q-durable");
    assert.equal((await setPolicy("q-durable", { operationsPerDay: 1 })).status, 200);
    assert.equal((await put(key, "kv/one", 1)).status, 201);
    await api.restart();
    assert.equal((await put(key, "kv/two", 2)).status, 429, "the limit (warm) and today's count (hot) both survived");
  });
});
