// Data residency on the real stores: the server's region comes from STATEHOUSE_REGION; a tenant pinned
// to another region has every write refused (403 residency_violation: state API, transactions, agents),
// audited in the warm tier and logged without values; the region of stored records is queryable by admins.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import pg from "pg";
import type { components } from "../../server/client/schema";
import { apiSuite, startApi, withApi } from "../helpers/api";
import { metricValue } from "../helpers/metrics";
import { startOwnPostgres } from "../helpers/own-postgres";
import { startServer } from "../helpers/server";
import { eventually } from "../helpers/metrics";

type Problem = { status: number; code: string; detail: string; tenantRegion?: string; serverRegion?: string };
/** The admin residency report, as the OpenAPI document (and so the typed client) describes it. */
type Residency = components["schemas"]["Residency"];

describe("data residency", () => {
  const suite = apiSuite({ env: { STATEHOUSE_REGION: "eu-west" } });
  const setPolicy = (tenant: string, body: unknown) =>
    suite.api.send("PUT", `/api/v1/admin/tenants/${tenant}/policy`, body, { key: suite.api.adminToken });
  const send = (key: string, method: string, path: string, body?: unknown, contentType = "application/json") =>
    suite.api.call(path, {
      method,
      key,
      headers: body === undefined ? {} : { "content-type": contentType },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const residency = async (tenant?: string) =>
    (await (
      await suite.api.call(`/api/v1/admin/residency${tenant ? `?tenant=${tenant}` : ""}`, { key: suite.api.adminToken })
    ).json()) as Residency;

  it("a write for a tenant pinned to another region is refused (403 residency_violation), nothing is written, and it is audited", async (t) => {
    const { key, id: keyId } = await suite.api.clientFor("r-pinned");
    assert.equal((await send(key, "PUT", "/api/v1/state/kv/before-pin", { value: { ok: true } })).status, 201);
    const sid = (
      (await (await send(key, "POST", "/api/v1/agents/assistant/sessions", {})).json()) as { sessionId: string }
    ).sessionId;
    const pinned = await setPolicy("r-pinned", { region: "us-east" });
    assert.equal(pinned.status, 200, await pinned.clone().text());
    const c = new pg.Client({ connectionString: suite.api.db.url });
    await c.connect();
    t.after(() => c.end());
    const rows = async () =>
      (await c.query(`SELECT namespace, key, version FROM state_records WHERE tenant = 'r-pinned' ORDER BY 1, 2`)).rows;
    const stored = await rows();

    const refused = await send(key, "PUT", "/api/v1/state/kv/secret-doc", { value: { password: "s3cr3t-value" } });
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.get("content-type"), "application/problem+json");
    const problem = (await refused.json()) as Problem;
    assert.equal(problem.code, "residency_violation");
    assert.equal(problem.tenantRegion, "us-east");
    assert.equal(problem.serverRegion, "eu-west");
    assert.equal(JSON.stringify(problem).includes("s3cr3t-value"), false);

    const attempts: [string, string, unknown?, string?][] = [
      ["PATCH", "/api/v1/state/kv/before-pin", { more: 1 }, "application/merge-patch+json"],
      ["DELETE", "/api/v1/state/kv/before-pin"],
      ["POST", "/api/v1/transactions", { operations: [{ op: "put", namespace: "kv", key: "tx", value: 1 }] }],
      ["POST", "/api/v1/agents/assistant/sessions", {}],
      ["POST", `/api/v1/agents/assistant/sessions/${sid}/messages`, { content: "my email is pinned@example.com" }],
      ["DELETE", `/api/v1/agents/assistant/sessions/${sid}`],
      ["POST", "/api/v1/agents/assistant/invoke", { messages: [{ role: "user", content: "hi" }] }],
      ["POST", "/api/v1/agents/assistant/batch", { documents: [{ text: "hi" }] }],
    ];
    for (const [method, path, body, type] of attempts) {
      const res = await send(key, method, path, body, type);
      assert.equal(res.status, 403, `${method} ${path}`);
      assert.equal(((await res.json()) as Problem).code, "residency_violation");
    }
    assert.deepEqual(await rows(), stored, "nothing was written");
    assert.equal(
      (await send(key, "GET", "/api/v1/state/kv/before-pin")).status,
      200,
      "reads of what is here still work",
    );

    const audit = (await residency("r-pinned")).audit;
    assert.equal(audit.length, 1 + attempts.length, "every refusal is audited");
    const first = audit.at(-1)!;
    assert.deepEqual(
      {
        tenant: first.tenant,
        tenantRegion: first.tenantRegion,
        serverRegion: first.serverRegion,
        operation: first.operation,
        actor: first.actor,
      },
      {
        tenant: "r-pinned",
        tenantRegion: "us-east",
        serverRegion: "eu-west",
        operation: "PUT /api/v1/state/{ns}/{key}",
        actor: keyId,
      },
    );
    assert.deepEqual([first.namespace, first.key], ["kv", "secret-doc"], "the record the write was for");
    assert.ok(audit.some((a) => a.operation === "POST /api/v1/transactions"));
    assert.ok(audit.some((a) => a.operation === "POST /api/v1/agents/{agent}/sessions/{id}/messages"));
    const logs = suite.api.server.logs.join("");
    assert.match(logs, /write refused: tenant pinned to another region/);
    assert.equal(logs.includes("s3cr3t-value"), false, "no values in the logs");
    assert.ok(
      (await metricValue(suite.api, "statehouse_lifecycle_events_total", { event: "residency_refused" })) >=
        1 + attempts.length,
    );

    // Pinned to this server's region: writes pass again.
    assert.equal((await setPolicy("r-pinned", { region: "eu-west" })).status, 200);
    assert.equal((await send(key, "PUT", "/api/v1/state/kv/secret-doc", { value: { n: 1 } })).status, 201);
    assert.deepEqual((await residency("r-pinned")).pins, [{ tenant: "r-pinned", region: "eu-west" }]);
  });

  it("admins can query the region of stored records", async () => {
    const { key } = await suite.api.clientFor("r-any");
    assert.equal((await send(key, "PUT", "/api/v1/state/kv/doc", { value: { a: 1 } })).status, 201);
    const record = await suite.api.call("/api/v1/admin/residency/r-any/kv/doc", { key: suite.api.adminToken });
    assert.equal(record.status, 200);
    assert.deepEqual(await record.json(), {
      tenant: "r-any",
      namespace: "kv",
      key: "doc",
      version: 1,
      region: "eu-west",
      tenantPinnedTo: null,
    });
    assert.equal(
      (await suite.api.call("/api/v1/admin/residency/r-any/kv/missing", { key: suite.api.adminToken })).status,
      404,
    );
    assert.equal((await suite.api.call("/api/v1/admin/residency/r-any/kv/doc", { key })).status, 403, "admins only");
    const all = await residency();
    assert.equal(all.serverRegion, "eu-west");
    assert.ok(
      all.storedIn.some((s) => s.tenant === "r-any" && s.region === "eu-west"),
      "the tenant's state is recorded as written in eu-west",
    );
  });

  it("a bad region is a 422 and changes nothing; unpinning lets writes through", async () => {
    const { key } = await suite.api.clientFor("r-bad");
    assert.equal((await setPolicy("r-bad", { region: "Not A Region" })).status, 422);
    assert.equal((await send(key, "PUT", "/api/v1/state/kv/x", { value: 1 })).status, 201);
    assert.equal((await setPolicy("r-bad", { region: "ap-south" })).status, 200);
    assert.equal((await send(key, "PUT", "/api/v1/state/kv/x", { value: 2 })).status, 403);
    assert.equal((await setPolicy("r-bad", { region: null })).status, 200);
    assert.equal((await send(key, "PUT", "/api/v1/state/kv/x", { value: 3 })).status, 200);
  });
});

describe("tenant policies while PostgreSQL is down", () => {
  it("pins and limits loaded at start keep holding; a stateless invoke still answers; other writes get 503", async () => {
    const own = await startOwnPostgres();
    const api = await startApi({
      DATABASE_URL: own.url,
      STATEHOUSE_STORE_TIMEOUT_MS: "500",
      STATEHOUSE_REGION: "eu-west",
    });
    try {
      const send = (key: string, method: string, path: string, body: unknown) =>
        api.call(path, { method, key, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      const setPolicy = (tenant: string, body: unknown) =>
        send(api.adminToken, "PUT", `/api/v1/admin/tenants/${tenant}/policy`, body);
      const { key: pinned } = await api.clientFor("down-pinned");
      const { key: limited } = await api.clientFor("down-limited");
      const { key: free } = await api.clientFor("down-free");
      assert.equal((await setPolicy("down-pinned", { region: "us-east" })).status, 200);
      assert.equal((await setPolicy("down-limited", { operationsPerDay: 1 })).status, 200);
      assert.equal((await send(limited, "PUT", "/api/v1/state/kv/one", { value: 1 })).status, 201);
      // A new process has never been asked about these tenants: what it knows, it loaded at start.
      await api.restart();
      // Keys are checked once (they are remembered through an outage); policies are not asked for.
      for (const key of [pinned, limited, free])
        assert.equal((await api.call("/api/v1/namespaces", { key })).status, 200);
      await new Promise((r) => setTimeout(r, 1000)); // the policies are loaded in the background at start
      own.stop("fast");

      const refused = await send(pinned, "PUT", "/api/v1/state/kv/x", { value: 1 });
      assert.equal(refused.status, 403, `the pin holds without PostgreSQL: ${await refused.clone().text()}`);
      assert.equal(((await refused.json()) as Problem).code, "residency_violation");
      assert.equal(
        (await send(limited, "PUT", "/api/v1/state/kv/two", { value: 2 })).status,
        429,
        "so does the operations limit (its count is in Redis)",
      );
      const invoke = await send(free, "POST", "/api/v1/agents/assistant/invoke", {
        messages: [{ role: "user", content: "my email is down@example.com. what is my email?" }],
      });
      assert.equal(invoke.status, 200, "a stateless turn needs no store");
      assert.equal(((await invoke.json()) as { reply: string }).reply, "Your email is down@example.com.");
      const unavailable = await send(free, "PUT", "/api/v1/state/kv/x", { value: 1 });
      assert.equal(unavailable.status, 503);
      assert.ok(unavailable.headers.get("retry-after"));
      assert.match(api.server.logs.join(""), /could not record a residency refusal in the audit table/);
    } finally {
      try {
        own.start();
      } catch {
        // already running
      }
      await api.close();
      own.destroy();
    }
  });
});

describe("tenant policies across instances", () => {
  it("a pin set on one instance holds at once on another; usage counted on one is seen from the other", async () => {
    await withApi({ STATEHOUSE_REGION: "eu-west" }, async (api) => {
      const second = await startServer(api.env);
      try {
        const { key } = await api.clientFor("multi");
        let accepted = 0; // writes that went through (and so were counted)
        const onSecond = async (method: string, path: string, body?: unknown) => {
          const res = await fetch(`${second.url}${path}`, {
            method,
            headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
            body: body === undefined ? undefined : JSON.stringify(body),
          });
          if (res.ok) accepted++;
          return res;
        };
        assert.equal(
          (await onSecond("PUT", "/api/v1/state/kv/a", { value: 1 })).status,
          201,
          "the second instance has now cached the tenant's (empty) policy",
        );
        const pin = await api.call("/api/v1/admin/tenants/multi/policy", {
          method: "PUT",
          key: api.adminToken,
          headers: { "content-type": "application/json" },
          body: '{"region":"us-east"}',
        });
        assert.equal(pin.status, 200);
        // Published on Redis: the other instance drops its cached copy instead of waiting out the 5 s cache.
        const refused = await eventually(
          () => onSecond("PUT", "/api/v1/state/kv/a", { value: 2 }).then((r) => r.status),
          (s) => s === 403,
          2000,
        );
        assert.equal(refused, 403);

        assert.equal(
          (
            await api.call("/api/v1/admin/tenants/multi/policy", {
              method: "PUT",
              key: api.adminToken,
              headers: { "content-type": "application/json" },
              body: '{"region":null}',
            })
          ).status,
          200,
        );
        await eventually(
          () => onSecond("PUT", "/api/v1/state/kv/b", { value: 1 }).then((r) => r.status),
          (s) => s === 201,
          2000,
        );
        // Unlimited tenant: counts are kept per process and added to Redis every second.
        const used = () =>
          api
            .call("/api/v1/quota", { key })
            .then((r) => r.json() as Promise<{ operations: { used: number } }>)
            .then((u) => u.operations.used);
        assert.ok(accepted >= 2);
        await eventually(used, (n) => n === accepted, 5000);
      } finally {
        await second.stop();
      }
    });
  });
});
