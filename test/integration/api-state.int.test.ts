// The state API over HTTP, against a real server backed by the real PostgreSQL and Redis. Every row of
// the design's API table (but workflows) and every status code it names, each asserting body and headers.
import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import { apiSuite, startApi } from "../helpers/api";

const PROBLEM = "application/problem+json";

async function problem(res: Response, status: number, code: string): Promise<Record<string, unknown>> {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}`);
  assert.equal(res.headers.get("content-type"), PROBLEM);
  const body = (await res.json()) as Record<string, unknown>;
  assert.equal(body.code, code);
  assert.equal(body.status, status);
  assert.equal(typeof body.title, "string");
  assert.equal(typeof body.detail, "string");
  assert.doesNotMatch(
    JSON.stringify(body),
    /at .*\.ts:\d+|node_modules|postgres(ql)?:\/\/|redis:\/\//,
    "no stack trace or connection string",
  );
  return body;
}

describe("state API over HTTP", () => {
  // `ledger` requires preconditions, as `workflows` does: the built-in one is written only by the workflow engine.
  const suite = apiSuite({
    env: { STATEHOUSE_NAMESPACES: path.join(import.meta.dirname, "../fixtures/namespaces-open.ts") },
    keys: { key: "acme" },
  });

  const put = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    suite.api.call(path, {
      method: "PUT",
      key: suite.key,
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });

  /** POST /api/v1/transactions with these operations. */
  const transact = (operations: unknown[]) =>
    suite.api.send("POST", "/api/v1/transactions", { operations }, { key: suite.key });

  it("GET /api/health and /api/ready answer without a key", async () => {
    assert.deepEqual(await (await suite.api.call("/api/health")).json(), { status: "ok" });
    const ready = await suite.api.call("/api/ready");
    assert.equal(ready.status, 200);
    const body = (await ready.json()) as { stores: { backend: string }[] };
    assert.deepEqual(
      body.stores.map((s) => s.backend),
      ["redis", "postgres", "filesystem"],
    );
  });

  it("PUT creates (201, ETag, Location), GET reads it (ETag, Statehouse-Tier), PUT updates (200)", async () => {
    const created = await suite.clients.key.PUT("/api/v1/state/{ns}/{key}", {
      params: { path: { ns: "kv", key: "profile" } },
      body: { value: { plan: "free" } },
    });
    assert.equal(created.response.status, 201);
    assert.equal(created.response.headers.get("etag"), '"1"');
    assert.equal(created.response.headers.get("location"), "/api/v1/state/kv/profile");
    assert.equal(created.data?.version, 1);
    assert.deepEqual(created.data?.value, { plan: "free" });

    const read = await suite.clients.key.GET("/api/v1/state/{ns}/{key}", {
      params: { path: { ns: "kv", key: "profile" } },
    });
    assert.equal(read.response.status, 200);
    assert.equal(read.response.headers.get("etag"), '"1"');
    assert.equal(read.response.headers.get("statehouse-tier"), "hot");
    const body = read.data!;
    assert.deepEqual(Object.keys(body).sort(), [
      "createdAt",
      "expiresAt",
      "idleTtlSeconds",
      "key",
      "namespace",
      "schemaVersion",
      "sizeBytes",
      "updatedAt",
      "value",
      "version",
    ]);
    assert.equal(body.idleTtlSeconds, null, "kv has no idle TTL");
    assert.equal(body.sizeBytes, JSON.stringify({ plan: "free" }).length);
    assert.equal(body.expiresAt, null);

    const strong = await suite.clients.key.GET("/api/v1/state/{ns}/{key}", {
      params: { path: { ns: "kv", key: "profile" }, query: { consistency: "strong" } },
    });
    assert.equal(strong.response.headers.get("statehouse-tier"), "warm");

    const updated = await suite.clients.key.PUT("/api/v1/state/{ns}/{key}", {
      params: { path: { ns: "kv", key: "profile" } },
      body: { value: { plan: "pro" }, ttlSeconds: 3600 },
    });
    assert.equal(updated.response.status, 200);
    assert.equal(updated.response.headers.get("etag"), '"2"');
    assert.equal(updated.response.headers.get("location"), null);
    assert.ok(updated.data?.expiresAt);

    const notModified = await suite.api.call("/api/v1/state/kv/profile", {
      key: suite.key,
      headers: { "if-none-match": '"2"' },
    });
    assert.equal(notModified.status, 304);
  });

  it("GET of an absent key or an unknown namespace is 404 problem+json", async () => {
    await problem(await suite.api.call("/api/v1/state/kv/never-written", { key: suite.key }), 404, "not_found");
    await problem(await suite.api.call("/api/v1/state/nope/x", { key: suite.key }), 404, "unknown_namespace");
  });

  it("If-Match: a matching version writes, a stale one is 412 with currentVersion, and changes nothing", async () => {
    await put("/api/v1/state/kv/cas", { value: 1 });
    const ok = await put("/api/v1/state/kv/cas", { value: 2 }, { "if-match": '"1"' });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("etag"), '"2"');
    const stale = await problem(
      await put("/api/v1/state/kv/cas", { value: 3 }, { "if-match": '"1"' }),
      412,
      "version_conflict",
    );
    assert.equal(stale.currentVersion, 2);
    const weak = await problem(
      await put("/api/v1/state/kv/cas", { value: 3 }, { "if-match": 'W/"2"' }),
      412,
      "version_conflict",
    );
    assert.equal(weak.currentVersion, 2, "a weak ETag never matches (RFC 9110 strong comparison)");
    const star = await put("/api/v1/state/kv/cas", { value: 4 }, { "if-match": "*" });
    assert.equal(star.status, 200);
    await problem(
      await put("/api/v1/state/kv/absent-star", { value: 1 }, { "if-match": "*" }),
      412,
      "version_conflict",
    );
    await problem(await put("/api/v1/state/kv/cas", { value: 1 }, { "if-match": "garbage" }), 400, "malformed");
    const cur = await suite.clients.key.GET("/api/v1/state/{ns}/{key}", { params: { path: { ns: "kv", key: "cas" } } });
    assert.equal(cur.data?.value, 4);
    assert.equal(cur.data?.version, 3);
  });

  it("versions beyond the 32-bit range are refused as input (412/400), never as a database failure", async () => {
    await put("/api/v1/state/kv/huge-version", { value: 1 });
    for (let i = 0; i < 8; i++) {
      const body = await problem(
        await put("/api/v1/state/kv/huge-version", { value: 2 }, { "if-match": '"3000000000"' }),
        412,
        "version_conflict",
      );
      assert.equal(body.currentVersion, 1);
    }
    await problem(
      await suite.api.call("/api/v1/state/kv/huge-version/history?before=3000000000", { key: suite.key }),
      400,
      "malformed",
    );
    await problem(
      await suite.api.call("/api/v1/state/kv/huge-version/versions/3000000000", { key: suite.key }),
      400,
      "malformed",
    );
    const tx = await transact([{ op: "delete", namespace: "kv", key: "huge-version", ifMatch: 3000000000 }]);
    await problem(tx, 400, "malformed");
    const ready = (await (await suite.api.call("/api/ready")).json()) as {
      stores: { tier: string; circuit: string }[];
    };
    assert.equal(
      ready.stores.find((s) => s.tier === "warm")!.circuit,
      "closed",
      "bad input never trips the database's circuit breaker",
    );
  });

  it("PATCH keeps the record's expiry; transactions honour required preconditions", async () => {
    const created = (await (await put("/api/v1/state/kv/expiring", { value: { a: 1 }, ttlSeconds: 3600 })).json()) as {
      expiresAt: string;
    };
    const patched = await suite.api.call("/api/v1/state/kv/expiring", {
      method: "PATCH",
      key: suite.key,
      headers: { "content-type": "application/merge-patch+json" },
      body: '{"b":2}',
    });
    const after = (await patched.json()) as { expiresAt: string };
    assert.ok(
      Math.abs(Date.parse(after.expiresAt) - Date.parse(created.expiresAt)) < 2000,
      `${after.expiresAt} vs ${created.expiresAt}`,
    );
    const blind = await transact([{ op: "put", namespace: "ledger", key: "wf-tx", value: 1 }]);
    await problem(blind, 428, "precondition_required");
    const createOnly = await transact([{ op: "put", namespace: "ledger", key: "wf-tx", value: 1, ifNoneMatch: "*" }]);
    assert.equal(createOnly.status, 200);
  });

  it("a dashboard session's mutation with a wrong CSRF token of any bytes is 403, never 500", async () => {
    const login = await suite.api.call("/api/admin/session", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ key: suite.api.adminToken }),
    });
    const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
    for (const token of ["wrong", "é".repeat(24), "\u00ff".repeat(24)]) {
      const res = await fetch(`${suite.api.url}/api/v1/admin/keys`, {
        method: "POST",
        headers: { cookie, "x-csrf-token": token, "content-type": "application/json" },
        body: '{"tenant":"x","scopes":["state:read"]}',
      });
      await problem(res, 403, "forbidden");
    }
    const { csrfToken } = (await login.json()) as { csrfToken: string };
    const ok = await fetch(`${suite.api.url}/api/v1/admin/keys`, {
      method: "POST",
      headers: { cookie, "x-csrf-token": csrfToken, "content-type": "application/json" },
      body: '{"tenant":"x","scopes":["state:read"]}',
    });
    assert.equal(ok.status, 201);
    const big = await suite.api.call("/api/admin/session", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ key: "k".repeat(100_000) }),
    });
    await problem(big, 413, "body_too_large");
  });

  it("If-None-Match: * creates only", async () => {
    const first = await put("/api/v1/state/kv/once", { value: "a" }, { "if-none-match": "*" });
    assert.equal(first.status, 201);
    const again = await problem(
      await put("/api/v1/state/kv/once", { value: "b" }, { "if-none-match": "*" }),
      412,
      "version_conflict",
    );
    assert.equal(again.currentVersion, 1);
  });

  it("20 concurrent PUTs with the same If-Match: exactly one 2xx, 19 × 412", async () => {
    await put("/api/v1/state/kv/race", { value: 0 });
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => put("/api/v1/state/kv/race", { value: i }, { "if-match": '"1"' })),
    );
    const statuses = answers.map((r) => r.status);
    assert.equal(statuses.filter((s) => s >= 200 && s < 300).length, 1);
    assert.equal(statuses.filter((s) => s === 412).length, 19);
    const bodies = await Promise.all(
      answers.filter((r) => r.status === 412).map((r) => r.json() as Promise<{ currentVersion: number }>),
    );
    assert.ok(bodies.every((b) => b.currentVersion === 2));
    assert.equal(
      (await suite.clients.key.GET("/api/v1/state/{ns}/{key}", { params: { path: { ns: "kv", key: "race" } } })).data
        ?.version,
      2,
    );
  });

  it("428 where the namespace requires a precondition", async () => {
    const body = await problem(
      await put("/api/v1/state/ledger/run-1", { value: { step: 0 } }),
      428,
      "precondition_required",
    );
    assert.match(String(body.detail), /If-Match or If-None-Match/);
    assert.equal(
      (await put("/api/v1/state/ledger/run-1", { value: { step: 0 } }, { "if-none-match": "*" })).status,
      201,
    );
  });

  it("413 over the namespace's size limit or the body limit; the size warning header below it", async () => {
    const tooBig = await problem(
      await put("/api/v1/state/ratelimits/big", { value: "x".repeat(20_000) }),
      413,
      "too_large",
    );
    assert.equal(tooBig.limitBytes, 16 * 1024);
    await problem(await suite.api.call("/api/v1/state/ratelimits/big", { key: suite.key }), 404, "not_found");
    const warned = await put("/api/v1/state/ratelimits/warned", { value: "y".repeat(2000) });
    assert.equal(warned.status, 201);
    assert.match(warned.headers.get("statehouse-size-warning") ?? "", /exceeds the warning level of 1024/);
    const huge = await put("/api/v1/state/kv/huge", { value: "z".repeat(6 * 1024 * 1024) });
    await problem(huge, 413, "body_too_large");
  });

  it("400 malformed JSON or body, 415 wrong content type, 422 invalid values, 404 unknown namespace", async () => {
    await problem(await put("/api/v1/state/kv/bad", "{not json"), 400, "malformed");
    await problem(await put("/api/v1/state/kv/bad", { notValue: 1 }), 400, "malformed");
    await problem(await put("/api/v1/state/kv/bad", ""), 400, "malformed");
    await problem(
      await suite.api.call("/api/v1/state/kv/bad", {
        method: "PUT",
        key: suite.key,
        headers: { "content-type": "text/plain" },
        body: "hi",
      }),
      415,
      "unsupported_media_type",
    );
    await problem(await put("/api/v1/state/kv/bad", { value: 1, ttlSeconds: -5 }), 422, "invalid");
    await problem(await put(`/api/v1/state/kv/${"k".repeat(600)}`, { value: 1 }), 422, "invalid");
    await problem(await put("/api/v1/state/kv/nul%00byte", { value: 1 }), 422, "invalid");
    await problem(await put("/api/v1/state/nope/bad", { value: 1 }), 404, "unknown_namespace");
    await problem(await put("/api/v1/state/idempotency/bad", { value: 1 }), 404, "unknown_namespace");
    await problem(await suite.api.call("/api/v1/state/kv/bad", { key: suite.key }), 404, "not_found");
  });

  it("PATCH applies merge patches and JSON Patches atomically", async () => {
    await put("/api/v1/state/kv/doc", { value: { a: 1, nested: { x: 1, y: 2 }, list: [1] } });
    const merged = await suite.api.call("/api/v1/state/kv/doc", {
      method: "PATCH",
      key: suite.key,
      headers: { "content-type": "application/merge-patch+json" },
      body: JSON.stringify({ nested: { y: null, z: 3 }, b: 2 }),
    });
    assert.equal(merged.status, 200);
    assert.equal(merged.headers.get("etag"), '"2"');
    assert.deepEqual(((await merged.json()) as { value: unknown }).value, {
      a: 1,
      nested: { x: 1, z: 3 },
      list: [1],
      b: 2,
    });
    const patched = await suite.api.call("/api/v1/state/kv/doc", {
      method: "PATCH",
      key: suite.key,
      headers: { "content-type": "application/json-patch+json", "if-match": '"2"' },
      body: JSON.stringify([
        { op: "add", path: "/list/-", value: 2 },
        { op: "remove", path: "/a" },
      ]),
    });
    assert.equal(patched.status, 200);
    assert.deepEqual(((await patched.json()) as { value: unknown }).value, {
      nested: { x: 1, z: 3 },
      list: [1, 2],
      b: 2,
    });
    // Refused patches: [path, headers, body, status, code].
    const jsonPatch = { "content-type": "application/json-patch+json" };
    const refused: [string, Record<string, string>, unknown, number, string][] = [
      ["/api/v1/state/kv/doc", { ...jsonPatch, "if-match": '"2"' }, [], 412, "version_conflict"],
      ["/api/v1/state/kv/doc", jsonPatch, [{ op: "test", path: "/b", value: 99 }], 422, "invalid"],
      ["/api/v1/state/kv/doc", jsonPatch, [{ op: "explode", path: "/b" }], 422, "invalid"],
      ["/api/v1/state/kv/doc", { "content-type": "application/json" }, {}, 415, "unsupported_media_type"],
      ["/api/v1/state/kv/no-such-doc", { "content-type": "application/merge-patch+json" }, {}, 404, "not_found"],
    ];
    for (const [target, headers, body, status, code] of refused)
      await problem(await suite.api.send("PATCH", target, body, { key: suite.key, headers }), status, code);
  });

  it("20 concurrent PATCHes without If-Match all land", async () => {
    await put("/api/v1/state/kv/counter-doc", { value: {} });
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        suite.api.call("/api/v1/state/kv/counter-doc", {
          method: "PATCH",
          key: suite.key,
          headers: { "content-type": "application/merge-patch+json" },
          body: JSON.stringify({ [`f${i}`]: i }),
        }),
      ),
    );
    assert.deepEqual(
      answers.map((r) => r.status),
      Array(20).fill(200),
    );
    const final = await suite.clients.key.GET("/api/v1/state/{ns}/{key}", {
      params: { path: { ns: "kv", key: "counter-doc" }, query: { consistency: "strong" } },
    });
    assert.equal(Object.keys(final.data?.value as object).length, 20);
    assert.equal(final.data?.version, 21);
  });

  it("DELETE answers 204, then 404; with a stale If-Match 412", async () => {
    await put("/api/v1/state/kv/doomed", { value: 1 });
    await put("/api/v1/state/kv/doomed", { value: 2 });
    const stale = await problem(
      await suite.api.call("/api/v1/state/kv/doomed", {
        method: "DELETE",
        key: suite.key,
        headers: { "if-match": '"1"' },
      }),
      412,
      "version_conflict",
    );
    assert.equal(stale.currentVersion, 2);
    const gone = await suite.clients.key.DELETE("/api/v1/state/{ns}/{key}", {
      params: { path: { ns: "kv", key: "doomed" }, header: { "if-match": '"2"' } },
    });
    assert.equal(gone.response.status, 204);
    await problem(await suite.api.call("/api/v1/state/kv/doomed", { key: suite.key }), 404, "not_found");
    await problem(
      await suite.api.call("/api/v1/state/kv/doomed", { method: "DELETE", key: suite.key }),
      404,
      "not_found",
    );
    const back = await put("/api/v1/state/kv/doomed", { value: 3 });
    assert.equal(back.status, 201);
    assert.equal(back.headers.get("etag"), '"4"', "versions continue after a delete");
  });

  it("GET /api/v1/state/{ns} lists by prefix with a cursor", async () => {
    for (let i = 0; i < 7; i++) await put(`/api/v1/state/kv/users%2F${i}`, { value: i });
    await put("/api/v1/state/kv/other", { value: 0 });
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 5; page++) {
      const { data, response } = await suite.clients.key.GET("/api/v1/state/{ns}", {
        params: { path: { ns: "kv" }, query: { prefix: "users/", limit: 3, cursor } },
      });
      assert.equal(response.status, 200);
      assert.ok(data!.items.length <= 3);
      seen.push(...data!.items.map((i) => i.key));
      cursor = data!.nextCursor;
      if (!cursor) break;
    }
    assert.deepEqual(
      seen.sort(),
      Array.from({ length: 7 }, (_, i) => `users/${i}`),
    );
    await problem(await suite.api.call("/api/v1/state/kv?limit=0", { key: suite.key }), 400, "malformed");
    await problem(await suite.api.call("/api/v1/state/kv?cursor=%%%", { key: suite.key }), 422, "invalid");
  });

  it("history lists versions with time, actor, operation and a JSON Patch; versions/{v} returns the past value", async () => {
    await put("/api/v1/state/kv/hist", { value: { n: 1 } });
    await put("/api/v1/state/kv/hist", { value: { n: 2, extra: true } });
    const { data, response } = await suite.clients.key.GET("/api/v1/state/{ns}/{key}/history", {
      params: { path: { ns: "kv", key: "hist" } },
    });
    assert.equal(response.status, 200);
    assert.deepEqual(
      data!.versions.map((v) => v.version),
      [2, 1],
    );
    assert.deepEqual(data!.versions[0]!.patch, [
      { op: "replace", path: "/n", value: 2 },
      { op: "add", path: "/extra", value: true },
    ]);
    assert.equal(data!.versions[0]!.operation, "put");
    assert.match(data!.versions[0]!.actor ?? "", /^[a-f0-9]{16}$/, "the actor is the API key's id, never its secret");
    assert.ok(!Number.isNaN(Date.parse(data!.versions[0]!.at)));
    const old = await suite.clients.key.GET("/api/v1/state/{ns}/{key}/versions/{v}", {
      params: { path: { ns: "kv", key: "hist", v: 1 } },
    });
    assert.equal(old.response.status, 200);
    assert.deepEqual(old.data?.value, { n: 1 });
    assert.equal(old.response.headers.get("etag"), '"1"');
    await problem(await suite.api.call("/api/v1/state/kv/hist/versions/9", { key: suite.key }), 404, "not_found");
    await problem(await suite.api.call("/api/v1/state/kv/hist/versions/zero", { key: suite.key }), 400, "malformed");
    await problem(await suite.api.call("/api/v1/state/kv/never/history", { key: suite.key }), 404, "not_found");
  });

  it("POST /api/v1/transactions applies all operations or none", async () => {
    await put("/api/v1/state/kv/tx-a", { value: "a1" });
    const ok = await suite.clients.key.POST("/api/v1/transactions", {
      body: {
        operations: [
          { op: "put", namespace: "kv", key: "tx-a", value: "a2", ifMatch: '"1"' },
          { op: "put", namespace: "kv", key: "tx-b", value: "b1" },
        ],
      },
    });
    assert.equal(ok.response.status, 200);
    assert.deepEqual(ok.data?.results, [
      { op: "put", namespace: "kv", key: "tx-a", version: 2 },
      { op: "put", namespace: "kv", key: "tx-b", version: 1 },
    ]);
    const failed = await transact([
      { op: "delete", namespace: "kv", key: "tx-b" },
      { op: "put", namespace: "kv", key: "tx-a", value: "a3", ifMatch: 1 },
    ]);
    const body = await problem(failed, 412, "version_conflict");
    assert.equal(body.currentVersion, 2);
    assert.equal(
      (await suite.clients.key.GET("/api/v1/state/{ns}/{key}", { params: { path: { ns: "kv", key: "tx-b" } } }))
        .response.status,
      200,
      "the delete was rolled back",
    );
    await problem(await transact([]), 400, "malformed");
  });

  it("Idempotency-Key replays the first answer for the same request and answers 409 for another", async () => {
    const headers = { "idempotency-key": "create-order-1" };
    const first = await put("/api/v1/state/kv/order", { value: { total: 10 } }, headers);
    assert.equal(first.status, 201);
    const firstBody = await first.text();
    const replay = await put("/api/v1/state/kv/order", { value: { total: 10 } }, headers);
    assert.equal(replay.status, 201);
    assert.equal(replay.headers.get("idempotent-replayed"), "true");
    assert.equal(replay.headers.get("etag"), '"1"');
    assert.equal(await replay.text(), firstBody);
    await problem(await put("/api/v1/state/kv/order", { value: { total: 99 } }, headers), 409, "idempotency_conflict");
    assert.equal(
      (await suite.clients.key.GET("/api/v1/state/{ns}/{key}", { params: { path: { ns: "kv", key: "order" } } })).data
        ?.version,
      1,
      "the replay wrote nothing",
    );
  });

  it("401 without or with a bad key, 403 without the scope", async () => {
    const noKey = await suite.api.call("/api/v1/state/kv/profile");
    await problem(noKey, 401, "unauthorized");
    assert.match(noKey.headers.get("www-authenticate") ?? "", /^Bearer/);
    await problem(
      await suite.api.call("/api/v1/state/kv/profile", {
        key: "shk_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      }),
      401,
      "unauthorized",
    );
    await problem(
      await suite.api.call("/api/v1/state/kv/profile", { headers: { authorization: "Basic dXNlcjpwYXNz" } }),
      401,
      "unauthorized",
    );
    const { key: readOnly } = await suite.api.clientFor("acme", ["state:read"]);
    assert.equal((await suite.api.call("/api/v1/state/kv/profile", { key: readOnly })).status, 200);
    const body = await problem(
      await suite.api.call("/api/v1/state/kv/profile", { method: "DELETE", key: readOnly }),
      403,
      "forbidden",
    );
    assert.equal(body.requiredScope, "state:write");
    await problem(await suite.api.call("/api/v1/admin/keys", { key: readOnly }), 403, "forbidden");
  });

  it("405 with Allow for a wrong method, 404 for an unknown route", async () => {
    const res = await suite.api.call("/api/v1/state/kv/profile", { method: "POST", key: suite.key });
    await problem(res, 405, "method_not_allowed");
    assert.match(res.headers.get("allow") ?? "", /GET/);
    await problem(await suite.api.call("/api/v1/nothing-here", { key: suite.key }), 404, "not_found");
  });

  it("GET /api/v1/namespaces lists the declared namespaces and their policies", async () => {
    const { data, response } = await suite.clients.key.GET("/api/v1/namespaces");
    assert.equal(response.status, 200);
    const names = data!.namespaces.map((n) => n.name);
    assert.ok(
      ["sessions", "workflows", "agent-profiles", "kv", "ratelimits", "ledger"].every((n) => names.includes(n)),
    );
    assert.ok(!names.includes("idempotency"), "internal namespaces stay hidden");
    const sessions = data!.namespaces.find((n) => n.name === "sessions")!;
    assert.equal(sessions.durability, "durable");
    assert.deepEqual(sessions.maxBytes, { warn: 256 * 1024, fail: 1024 * 1024 });
  });

  it("admins create, list and revoke keys; a revoked key is refused at once", async () => {
    const created = await suite.api.admin.POST("/api/v1/admin/keys", {
      body: { tenant: "globex", scopes: ["state:read"], name: "reporting" },
    });
    assert.equal(created.response.status, 201);
    assert.deepEqual(Object.keys(created.data!).sort(), [
      "createdAt",
      "id",
      "key",
      "name",
      "revokedAt",
      "scopes",
      "tenant",
    ]);
    assert.match(created.data!.key, /^shk_[a-f0-9]{16}_/);
    const listed = await suite.api.admin.GET("/api/v1/admin/keys", { params: { query: { tenant: "globex" } } });
    assert.ok(listed.data!.keys.some((k) => k.id === created.data!.id));
    // The secret is base64url and may itself contain "_": take everything after the id.
    const secret = created.data!.key.slice("shk_".length + 16 + 1);
    assert.equal(secret.length, 43);
    assert.ok(!JSON.stringify(listed.data).includes(secret), "secrets are never listed");
    assert.equal((await suite.api.call("/api/v1/state/kv/x", { key: created.data!.key })).status, 404);
    const revoked = await suite.api.admin.DELETE("/api/v1/admin/keys/{id}", {
      params: { path: { id: created.data!.id } },
    });
    assert.equal(revoked.response.status, 204);
    await problem(await suite.api.call("/api/v1/state/kv/x", { key: created.data!.key }), 401, "unauthorized");
    for (const invalid of [
      { tenant: "Bad Tenant", scopes: ["state:read"] },
      { tenant: "t", scopes: ["root"] },
    ])
      await problem(
        await suite.api.send("POST", "/api/v1/admin/keys", invalid, { key: suite.api.adminToken }),
        422,
        "invalid",
      );
    await problem(
      await suite.api.call("/api/v1/admin/keys/ffffffffffffffff", { method: "DELETE", key: suite.api.adminToken }),
      404,
      "not_found",
    );
  });
});

describe("state API limits and failures", () => {
  it("429 with Retry-After past the rate limit", async () => {
    const api = await startApi({ STATEHOUSE_RATE_LIMIT_RPS: "1", STATEHOUSE_RATE_LIMIT_BURST: "3" });
    try {
      const { key } = await api.clientFor("acme");
      const statuses: number[] = [];
      let limited: Response | undefined;
      for (let i = 0; i < 6; i++) {
        const res = await api.call("/api/v1/state/kv/x", { key });
        statuses.push(res.status);
        if (res.status === 429) limited = res;
        else await res.body?.cancel();
      }
      assert.ok(
        statuses.slice(0, 3).every((s) => s === 404),
        `first three within the burst: ${statuses}`,
      );
      assert.ok(limited, `some request was limited: ${statuses}`);
      assert.equal(limited.headers.get("retry-after"), "1");
      await problem(limited, 429, "rate_limited");
    } finally {
      await api.close();
    }
  });

  it("503 with Retry-After when PostgreSQL goes away; the process stays up", async () => {
    const api = await startApi({ STATEHOUSE_STORE_TIMEOUT_MS: "1000" });
    try {
      const { key } = await api.clientFor("acme");
      await api.send("PUT", "/api/v1/state/kv/before", { value: 1 }, { key });
      await api.db.drop(); // terminates the server's connections: the real failure of a real store
      const write = await api.send("PUT", "/api/v1/state/kv/during", { value: 1 }, { key });
      const body = await problem(write, 503, "unavailable");
      assert.ok(Number(write.headers.get("retry-after")) >= 1);
      assert.equal(body.store, undefined, "which backend failed is logged, not shown");
      const strongRead = await api.call("/api/v1/state/kv/before?consistency=strong", { key });
      await problem(strongRead, 503, "unavailable");
      const cached = await api.call("/api/v1/state/kv/before", { key });
      assert.equal(cached.status, 200, "hot reads go on while warm is down");
      const ready = await api.call("/api/ready");
      assert.equal(ready.status, 503);
      assert.equal(((await ready.json()) as { status: string }).status, "unavailable");
      assert.equal((await api.call("/api/health")).status, 200);
    } finally {
      await api.close();
    }
  });
});

describe("several instances", () => {
  it("a key revoked through one instance is refused by another at once (Redis pub/sub), not after its 5 s cache", async () => {
    const api = await startApi();
    const { startServer } = await import("../helpers/server");
    const other = await startServer(api.env);
    try {
      const created = await api.clientFor("acme");
      const through = (url: string) =>
        fetch(`${url}/api/v1/state/kv/anything`, { headers: { authorization: `Bearer ${created.key}` } });
      assert.equal((await through(other.url)).status, 404, "the other instance knows (and caches) the key");
      const revoked = await api.admin.DELETE("/api/v1/admin/keys/{id}", { params: { path: { id: created.id } } });
      assert.equal(revoked.response.status, 204);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal((await through(other.url)).status, 401, "refused well within the cache's 5 s life");
    } finally {
      await other.stop();
      await api.close();
    }
  });
});
