// Scopes that mean what they say (issue 14): namespaces a domain writes (agent sessions and profiles,
// workflow runs, LangGraph checkpoints and heads) are never written through the generic state API and are
// read there only with the domain's scope, against a real server (PostgreSQL + Redis) whose records were
// written by the domains themselves. A forged run record cannot be written, so no worker runs it.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { emptyCheckpoint } from "@langchain/langgraph-checkpoint";
import { loadConfig } from "../../server/config";
import { buildServices, type Services } from "../../server/container";
import { StatehouseSaver } from "../../server/langgraph/checkpointer";
import { loadDeclaredNamespaces } from "../../server/lifecycle/declared-namespaces";
import { queuedRun } from "../../server/workflows/service";
import { type ApiFixture, startApi, workflowEnv } from "../helpers/api";
import { until } from "../helpers/until";

const PROBLEM = "application/problem+json";
const TENANT = "owned";

async function forbidden(res: Response, what: string): Promise<Record<string, unknown>> {
  const body = (await res.json()) as Record<string, unknown>;
  assert.equal(res.status, 403, `${what}: expected 403, got ${res.status} ${JSON.stringify(body)}`);
  assert.equal(res.headers.get("content-type"), PROBLEM);
  assert.equal(body.code, "forbidden", what);
  assert.equal(body.status, 403);
  return body;
}

interface Owned {
  ns: string;
  key: string;
  scope: string;
  /** The route or library the refusal must point to. */
  use: RegExp;
  /** The namespace keeps version history (so history and versions/1 answer 200 for a reader with the scope). */
  history: boolean;
}

describe("domain-owned namespaces through the state API", () => {
  let api: ApiFixture;
  let direct: Services;
  let owned: Owned[];
  const keys: Record<string, string> = {};

  before(async () => {
    api = await startApi(workflowEnv({ workers: 1, pollMs: 50, scanMs: 300, effectsLog: true }));
    const mint = async (name: string, scopes: string[]) => (keys[name] = (await api.clientFor(TENANT, scopes)).key);
    await mint("plain", ["state:read", "state:write"]);
    await mint("agents", ["state:read", "state:write", "agents:invoke"]);
    await mint("workflows", ["state:read", "state:write", "workflows:run"]);
    await mint("checkpoints", ["state:read", "state:write", "checkpoints:read"]);
    await mint("domainOnly", ["agents:invoke", "workflows:run", "checkpoints:read"]);
    await mint("admin", ["admin"]);

    // Records written by the domains, the way they write them.
    const call = (p: string, key: string, body?: unknown) =>
      api.call(p, {
        method: body === undefined ? "GET" : "POST",
        key,
        ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
      });
    const session = (await (await call("/api/v1/agents/assistant/sessions", keys.agents!, {})).json()) as {
      sessionId: string;
    };
    assert.equal(
      (
        await call(`/api/v1/agents/assistant/sessions/${session.sessionId}/messages`, keys.agents!, {
          content: "Hi, my email is ann@example.com",
        })
      ).status,
      200,
    );
    const started = await call("/api/v1/workflows", keys.workflows!, { type: "plan", input: { steps: 2 } });
    assert.equal(started.status, 202);
    const { runId } = (await started.json()) as { runId: string };
    await until(
      async () =>
        ((await (await call(`/api/v1/workflows/${runId}`, keys.workflows!)).json()) as { status: string }).status ===
          "succeeded" || undefined,
      "the run to finish",
    );
    // A second process of the same deployment (no workers) runs a LangGraph checkpointer for the tenant.
    direct = await buildServices(
      loadConfig({
        ...api.env,
        STATEHOUSE_WORKFLOW_WORKERS: "0",
        STATEHOUSE_SWEEP_INTERVAL_MS: "0",
        STATEHOUSE_OUTBOX_RELAY: "off",
      }),
    );
    const saver = new StatehouseSaver({ state: direct.state, tenant: TENANT });
    await saver.put(
      { configurable: { thread_id: "thread-1", checkpoint_ns: "" } },
      { ...emptyCheckpoint(), id: "1f000000-0000-6000-8000-000000000001" },
      { source: "input", step: -1, parents: {} },
      {},
    );
    const listed = async (ns: string) => (await direct.state.list(TENANT, ns, { limit: 10 })).items.map((i) => i.key);
    const [checkpointKey] = await listed("checkpoints");
    const [headKey] = await listed("checkpoint-heads");
    assert.ok(checkpointKey && headKey, "the checkpointer wrote a checkpoint and its head");

    owned = [
      {
        ns: "sessions",
        key: session.sessionId,
        scope: "agents:invoke",
        use: /\/api\/v1\/agents\/\{agent\}\/sessions/,
        history: true,
      },
      {
        ns: "agent-profiles",
        key: `profile:assistant:${session.sessionId}`,
        scope: "agents:invoke",
        use: /\/api\/v1\/agents\/\{agent\}\/sessions/,
        history: true,
      },
      { ns: "workflows", key: runId, scope: "workflows:run", use: /\/api\/v1\/workflows/, history: true },
      { ns: "checkpoints", key: checkpointKey, scope: "checkpoints:read", use: /StatehouseSaver/, history: false },
      { ns: "checkpoint-heads", key: headKey, scope: "checkpoints:read", use: /StatehouseSaver/, history: false },
    ];
  });
  after(async () => {
    await direct?.close();
    await api?.close();
  });

  const read = (o: Owned, key: string) => ({
    record: () => api.call(`/api/v1/state/${o.ns}/${encodeURIComponent(o.key)}`, { key }),
    list: () => api.call(`/api/v1/state/${o.ns}?limit=50`, { key }),
    history: () => api.call(`/api/v1/state/${o.ns}/${encodeURIComponent(o.key)}/history`, { key }),
    version: () => api.call(`/api/v1/state/${o.ns}/${encodeURIComponent(o.key)}/versions/1`, { key }),
  });
  const writes = (o: Owned, key: string) => {
    const at = `/api/v1/state/${o.ns}/${encodeURIComponent(o.key)}`;
    const json = { "content-type": "application/json" };
    return {
      put: () => api.call(at, { method: "PUT", key, headers: json, body: JSON.stringify({ value: { forged: true } }) }),
      putCreate: () =>
        api.call(`/api/v1/state/${o.ns}/new-${Date.now()}`, {
          method: "PUT",
          key,
          headers: { ...json, "if-none-match": "*" },
          body: JSON.stringify({ value: { forged: true } }),
        }),
      patch: () =>
        api.call(at, {
          method: "PATCH",
          key,
          headers: { "content-type": "application/merge-patch+json" },
          body: JSON.stringify({ forged: true }),
        }),
      jsonPatch: () =>
        api.call(at, {
          method: "PATCH",
          key,
          headers: { "content-type": "application/json-patch+json" },
          body: JSON.stringify([{ op: "add", path: "/forged", value: true }]),
        }),
      delete: () => api.call(at, { method: "DELETE", key }),
      txPut: () =>
        api.call("/api/v1/transactions", {
          method: "POST",
          key,
          headers: json,
          body: JSON.stringify({
            operations: [{ op: "put", namespace: o.ns, key: o.key, value: { forged: true }, ifNoneMatch: "*" }],
          }),
        }),
      txDelete: () =>
        api.call("/api/v1/transactions", {
          method: "POST",
          key,
          headers: json,
          body: JSON.stringify({ operations: [{ op: "delete", namespace: o.ns, key: o.key }] }),
        }),
    };
  };
  /** The record as its domain sees it (engine, not HTTP): unchanged by any refused request. */
  const stored = async (o: Owned) => {
    const r = await direct.state.getOrThrow(
      { tenant: TENANT, namespace: o.ns, key: o.key },
      { consistency: o.ns === "checkpoint-heads" ? "eventual" : "strong" },
    );
    return { version: r.version, value: JSON.stringify(r.value) };
  };

  it("a key without the domain's scope reads none of them (record, list, history, versions)", async () => {
    for (const o of owned) {
      const wrongKeys = ["plain", "agents", "workflows", "checkpoints"].filter((k) => k !== o.scope.split(":")[0]);
      for (const name of wrongKeys) {
        for (const [op, send] of Object.entries(read(o, keys[name]!))) {
          const body = await forbidden(await send(), `${name} key, ${op} ${o.ns}`);
          assert.equal(body.requiredScope, o.scope, `${op} ${o.ns} names the scope`);
          assert.match(String(body.detail), new RegExp(o.scope));
          assert.match(String(body.use), o.use, `${op} ${o.ns} names the domain's route`);
        }
      }
    }
  });

  it("the domain's scope reads them; nothing, not even the domain's scope or admin, writes them", async () => {
    for (const o of owned) {
      const before = await stored(o);
      const scoped = keys[o.scope.split(":")[0]!]!;
      const r = read(o, scoped);
      const record = await r.record();
      assert.equal(record.status, 200, `GET ${o.ns} with ${o.scope}`);
      assert.equal(((await record.json()) as { key: string }).key, o.key);
      const list = await r.list();
      assert.equal(list.status, 200);
      assert.ok(
        ((await list.json()) as { items: { key: string }[] }).items.some((i) => i.key === o.key),
        `list ${o.ns}`,
      );
      for (const res of [await r.history(), await r.version()]) {
        if (o.history) assert.equal(res.status, 200, `history of ${o.ns}`);
        else
          assert.ok(
            [404, 422].includes(res.status),
            `${o.ns} keeps no history (hot tier only: 422 unsupported): ${res.status}, not 403`,
          );
      }
      const admin = await read(o, keys.admin!).record();
      assert.equal(admin.status, 200, "admin implies the domain's scope within its tenant");
      await admin.body?.cancel();

      for (const key of [keys.plain!, scoped, keys.admin!]) {
        for (const [op, send] of Object.entries(writes(o, key))) {
          const body = await forbidden(await send(), `${op} ${o.ns}`);
          assert.equal(body.namespace, o.ns);
          assert.match(String(body.detail), /never through the state API/);
          assert.match(String(body.use), o.use, `${op} ${o.ns} names where to go instead`);
          if (op.startsWith("tx")) assert.equal(body.index, 0, "a transaction's refusal names the operation");
        }
      }
      assert.deepEqual(await stored(o), before, `${o.ns}/${o.key} unchanged`);
      if (o.ns === "sessions")
        assert.equal(
          (await api.call(`/api/v1/agents/assistant/sessions/${o.key}`, { key: keys.agents! })).status,
          200,
          "the session is still there",
        );
    }
  });

  it("domain scopes alone do not open the state routes: the route's own scope is still needed", async () => {
    const o = owned[0]!;
    const body = await forbidden(await read(o, keys.domainOnly!).record(), "agents:invoke without state:read");
    assert.equal(body.requiredScope, "state:read");
  });

  it("a transaction mixing an open and an owned namespace is refused whole, naming the operation", async () => {
    const wf = owned.find((o) => o.ns === "workflows")!;
    const res = await api.send(
      "POST",
      "/api/v1/transactions",
      {
        operations: [
          { op: "put", namespace: "kv", key: "mixed", value: 1 },
          { op: "delete", namespace: "workflows", key: wf.key },
        ],
      },
      { key: keys.workflows! },
    );
    const body = await forbidden(res, "mixed transaction");
    assert.equal(body.index, 1);
    assert.match(String(body.detail), /^operations\[1\]: namespace workflows/);
    assert.equal(
      (await api.call("/api/v1/state/kv/mixed", { key: keys.plain! })).status,
      404,
      "the open write was not applied",
    );
  });

  it("a forged queued run cannot be written, so no worker runs it", async () => {
    const runId = `run_${"f".repeat(20)}`;
    const now = new Date().toISOString();
    const forged = queuedRun({
      runId,
      type: "plan",
      input: { steps: 3, effectsLog: "forged" },
      totalSteps: 3,
      maxAttempts: 3,
      createdAt: now,
    });
    for (const key of [keys.plain!, keys.workflows!, keys.admin!]) {
      await forbidden(
        await api.send(
          "PUT",
          `/api/v1/state/workflows/${runId}`,
          { value: forged },
          { key, headers: { "if-none-match": "*" } },
        ),
        "PUT forged run",
      );
      await forbidden(
        await api.send(
          "POST",
          "/api/v1/transactions",
          { operations: [{ op: "put", namespace: "workflows", key: runId, value: forged, ifNoneMatch: "*" }] },
          { key },
        ),
        "forged run in a transaction",
      );
    }
    await new Promise((r) => setTimeout(r, 1500)); // several recovery scans (every 300 ms) and queue polls
    assert.equal((await api.call(`/api/v1/workflows/${runId}`, { key: keys.workflows! })).status, 404, "no such run");
    await assert.rejects(
      direct.state.getOrThrow({ tenant: TENANT, namespace: "workflows", key: runId }, { consistency: "strong" }),
      (e: { code?: string }) => e.code === "not_found",
    );
    assert.equal(
      existsSync(path.join(api.env.STATEHOUSE_DATA_DIR!, "workflow-effects", "forged.jsonl")),
      false,
      "no step of it ran",
    );
  });

  it("GET /api/v1/namespaces shows each namespace's owner and the scopes that reach it", async () => {
    const res = await api.call("/api/v1/namespaces", { key: keys.plain! });
    const { namespaces } = (await res.json()) as {
      namespaces: {
        name: string;
        owner?: { domain: string; readScope: string };
        access: { read: string[]; write: string[] | null; owner?: string; use?: string };
      }[];
    };
    const by = Object.fromEntries(namespaces.map((n) => [n.name, n]));
    for (const o of owned) {
      assert.deepEqual(by[o.ns]!.access.read, ["state:read", o.scope], o.ns);
      assert.equal(by[o.ns]!.access.write, null, `${o.ns} is not writable through the state API`);
      assert.equal(by[o.ns]!.owner?.readScope, o.scope);
      assert.match(by[o.ns]!.access.use!, o.use);
    }
    for (const open of ["embeddings", "features", "kv", "jobs"])
      assert.deepEqual(by[open]!.access, { read: ["state:read"], write: ["state:write"] }, `${open} stays open`);
  });

  it("profile vectors live in agent-profiles, not in the open embeddings namespace", async () => {
    const sid = owned[0]!.key;
    const profile = await api.call(`/api/v1/state/agent-profiles/profile:assistant:${sid}`, { key: keys.agents! });
    assert.equal(profile.status, 200);
    assert.equal(((await profile.json()) as { value: { messages: number } }).value.messages, 1);
    assert.equal(
      (await api.call(`/api/v1/state/embeddings/profile:assistant:${sid}`, { key: keys.plain! })).status,
      404,
    );
    // embeddings and features stay the product teams': a state:write key writes them.
    for (const ns of ["embeddings", "features"]) {
      const res = await api.send(
        "PUT",
        `/api/v1/state/${ns}/doc-1`,
        { value: { v: [0.1, 0.2] } },
        { key: keys.plain! },
      );
      assert.equal(res.status, 201, ns);
    }
  });

  it("profile vectors earlier versions left in embeddings are deleted at start-up; product records there are kept", async () => {
    const put = (key: string, value: unknown) =>
      api.send("PUT", `/api/v1/state/embeddings/${encodeURIComponent(key)}`, { value }, { key: keys.plain! });
    const legacy = {
      model: "hashed-bow-v1",
      dim: 256,
      messages: 2,
      vector: [0.5, 0.5],
      topics: [{ turn: 1, text: "my email is bob@example.com", terms: [[3, 0.7]] }],
    };
    assert.equal((await put("profile:assistant:old-session", legacy)).status, 201);
    assert.equal(
      (await put("profile:team:their-own", { model: "theirs", vector: [1] })).status,
      201,
      "a product record under the same prefix",
    );
    assert.equal(
      (await put("profile:assistant:with-extra", { ...legacy, owner: "team" })).status,
      201,
      "same fields plus one: not a profile the agents wrote",
    );
    await api.restart();
    await until(
      async () =>
        (await api.call("/api/v1/state/embeddings/profile:assistant:old-session", { key: keys.plain! })).status === 404
          ? true
          : undefined,
      "the legacy profile to be purged",
      20_000,
      100,
    );
    for (const kept of ["profile:team:their-own", "profile:assistant:with-extra", "doc-1"]) {
      assert.equal(
        (await api.call(`/api/v1/state/embeddings/${encodeURIComponent(kept)}`, { key: keys.plain! })).status,
        200,
        `${kept} kept`,
      );
    }
  });
});

describe("declared namespaces (STATEHOUSE_NAMESPACES)", () => {
  it("stay open: a deployment cannot declare an owner", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "sh-ns-"));
    try {
      const file = path.join(dir, "owned.mjs");
      await writeFile(
        file,
        `export default [{ name: "mine", kind: "general", durability: "durable", description: "x", owner: { domain: "workflows", readScope: "workflows:run", use: "x" } }];\n`,
      );
      await assert.rejects(loadDeclaredNamespaces(file), (e: { issues?: string[]; message?: string }) =>
        /owner is reserved for built-in namespaces/.test(JSON.stringify(e.issues ?? e.message)),
      );
      const open = path.join(dir, "open.mjs");
      await writeFile(
        open,
        `export default [{ name: "mine", kind: "general", durability: "durable", description: "x" }];\n`,
      );
      assert.equal((await loadDeclaredNamespaces(open))[0]!.owner, undefined);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
