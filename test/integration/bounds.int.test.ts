// Bounded work, checked before the work is done, against a real server (PostgreSQL + Redis): bodies
// nested 20 000 deep on every kind of JSON body, the JSON Patch that doubles its document per
// operation, patches over the operation and work caps. Each gets a 4xx, the record is unchanged and
// the server still answers. Also: problems keep a numeric status, a missing version is named, and a
// transaction's 412 names the operation that failed.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ApiFixture, startApi } from "../helpers/api";
import { until } from "../helpers/until";
import { DEEP, deepArray, deepBodies, deepObject } from "../helpers/deep-bodies";

const PROBLEM = "application/problem+json";

async function problem(res: Response, status: number, code: string): Promise<Record<string, unknown>> {
  const text = await res.text();
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status} ${text.slice(0, 300)}`);
  assert.equal(res.headers.get("content-type"), PROBLEM);
  const body = JSON.parse(text) as Record<string, unknown>;
  assert.equal(body.code, code);
  assert.equal(body.status, status, "status is the HTTP status number");
  assert.equal(typeof body.title, "string");
  assert.equal(typeof body.detail, "string");
  return body;
}

describe("bounded work over HTTP", () => {
  let api: ApiFixture;
  let key: string;

  before(async () => {
    api = await startApi({ STATEHOUSE_WORKFLOW_WORKERS: "1", STATEHOUSE_WORKFLOW_POLL_MS: "50" });
    ({ key } = await api.clientFor("acme"));
  });
  after(async () => {
    await api.close();
  });

  const send = (
    method: string,
    path: string,
    body: string,
    contentType = "application/json",
    headers: Record<string, string> = {},
    as = key,
  ) => api.call(path, { method, key: as, headers: { "content-type": contentType, ...headers }, body });
  const record = async (path: string) => {
    const res = await api.call(path, { key });
    assert.equal(res.status, 200);
    return (await res.json()) as { version: number; value: unknown };
  };
  /** The record at `path` is exactly as it was, and the server answers health and state reads. */
  const unchanged = async (path: string, expected: { version: number; value: unknown }) => {
    const now = await record(path);
    assert.equal(now.version, expected.version, `${path} is still at version ${expected.version}`);
    assert.deepEqual(now.value, expected.value, `${path} has its value`);
    const health = await api.call("/api/health");
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: "ok" });
  };
  const timed = async (fn: () => Promise<Response>) => {
    const started = performance.now();
    const res = await fn();
    return { res, ms: performance.now() - started };
  };

  it("a body nested 20 000 deep gets 400 too_deep on every kind of JSON body, and changes nothing", async () => {
    assert.equal(
      (await send("PUT", "/api/v1/state/kv/doc", JSON.stringify({ value: { n: 1, list: [1, 2] } }))).status,
      201,
    );
    const before = await record("/api/v1/state/kv/doc");
    const bodies: [string, string, string, string, string?][] = [
      ["PUT", "/api/v1/state/kv/doc", `{"value":${deepArray(DEEP)}}`, "application/json"],
      ...deepBodies(),
      [
        "PATCH",
        "/api/v1/state/kv/doc",
        `[{"op":"replace","path":"/n","value":${deepObject(DEEP)}}]`,
        "application/json-patch+json",
      ],
      [
        "POST",
        "/api/v1/agents/assistant/batch",
        `{"documents":[{"text":"hello"},${deepArray(DEEP)}]}`,
        "application/json",
      ],
      ["POST", "/api/v1/workflows", `{"type":"plan","input":${deepObject(DEEP)}}`, "application/json"],
      [
        "POST",
        "/api/v1/admin/keys",
        `{"tenant":"acme","scopes":["state:read"],"name":${deepArray(DEEP)}}`,
        "application/json",
        api.adminToken,
      ],
    ];
    for (const [method, path, body, contentType, as] of bodies) {
      const { res, ms } = await timed(() => send(method, path, body, contentType, {}, as ?? key));
      const p = await problem(res, 400, "too_deep");
      assert.equal(p.limitDepth, 64, `${method} ${path}: the limit is in the problem`);
      assert.ok(ms < 5000, `${method} ${path} answered in ${ms} ms`);
    }
    await unchanged("/api/v1/state/kv/doc", before);
    // The dashboard's login body too (with an admin key, so only the nesting can refuse it; under the 16 KiB body limit there).
    const login = await fetch(`${api.url}/api/admin/session`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: `{"key":${JSON.stringify(api.adminToken)},"x":${deepArray(7000)}}`,
    });
    assert.equal((await problem(login, 400, "too_deep")).limitDepth, 64);
    assert.equal(login.headers.get("set-cookie"), null, "no session for a refused login");
  });

  it("64 levels are accepted, 65 are not", async () => {
    // {"value": …} is one level: the value may nest 63.
    assert.equal((await send("PUT", "/api/v1/state/kv/edge", `{"value":${deepArray(63)}}`)).status, 201);
    await problem(await send("PUT", "/api/v1/state/kv/edge", `{"value":${deepArray(64)}}`), 400, "too_deep");
    assert.equal((await record("/api/v1/state/kv/edge")).version, 1);
    // Strings full of brackets do not count.
    assert.equal(
      (await send("PUT", "/api/v1/state/kv/edge", JSON.stringify({ value: "[{".repeat(5000) }))).status,
      200,
    );
  });

  it("the 30-op root-copy JSON Patch gets 413 fast and leaves the record unchanged", async () => {
    assert.equal(
      (await send("PUT", "/api/v1/state/kv/bomb", JSON.stringify({ value: { seed: "x".repeat(200) } }))).status,
      201,
    );
    const before = await record("/api/v1/state/kv/bomb");
    const ops = Array.from({ length: 30 }, (_, i) => ({ op: "copy", from: "", path: `/c${i}` }));
    const { res, ms } = await timed(() =>
      send("PATCH", "/api/v1/state/kv/bomb", JSON.stringify(ops), "application/json-patch+json"),
    );
    const p = await problem(res, 413, "too_large");
    assert.equal(p.limitBytes, 4 * 1024 * 1024, "kv's maxBytes.fail");
    assert.equal(typeof p.operation, "number");
    assert.ok(ms < 5000, `answered in ${ms} ms`);
    await unchanged("/api/v1/state/kv/bomb", before);
    // With If-Match too, and twice in parallel: still refused, still unchanged.
    const again = await Promise.all(
      [0, 1].map(() =>
        send("PATCH", "/api/v1/state/kv/bomb", JSON.stringify(ops), "application/json-patch+json", {
          "if-match": '"1"',
        }),
      ),
    );
    for (const r of again) await problem(r, 413, "too_large");
    await unchanged("/api/v1/state/kv/bomb", before);
  });

  it("JSON Patches over the operation cap or the work cap get 413; a small patch still applies", async () => {
    assert.equal(
      (await send("PUT", "/api/v1/state/kv/work", JSON.stringify({ value: { big: "b".repeat(400_000), n: 0 } })))
        .status,
      201,
    );
    const before = await record("/api/v1/state/kv/work");
    const tooMany = Array.from({ length: 1001 }, () => ({ op: "test", path: "/n", value: 0 }));
    const p = await problem(
      await send("PATCH", "/api/v1/state/kv/work", JSON.stringify(tooMany), "application/json-patch+json"),
      413,
      "too_large",
    );
    assert.equal(p.limitOperations, 1000);
    const loop = Array.from({ length: 500 }, () => [
      { op: "copy", from: "/big", path: "/tmp" },
      { op: "remove", path: "/tmp" },
    ]).flat();
    const w = await problem(
      await send("PATCH", "/api/v1/state/kv/work", JSON.stringify(loop), "application/json-patch+json"),
      413,
      "too_large",
    );
    assert.equal(w.limitWorkBytes, 16 * 1024 * 1024);
    await unchanged("/api/v1/state/kv/work", before);
    const ok = await send(
      "PATCH",
      "/api/v1/state/kv/work",
      JSON.stringify([
        { op: "replace", path: "/n", value: 1 },
        { op: "copy", from: "/n", path: "/m" },
      ]),
      "application/json-patch+json",
    );
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.deepEqual(((await ok.json()) as { value: Record<string, unknown> }).value.m, 1);
  });

  it("a JSON Patch cannot deepen a value past the stored-value nesting limit", async () => {
    assert.equal(
      (await send("PUT", "/api/v1/state/kv/deepen", JSON.stringify({ value: JSON.parse(deepObject(60)) }))).status,
      201,
    );
    const before = await record("/api/v1/state/kv/deepen");
    const path = `${"/a".repeat(59)}/x`;
    const ops = Array.from({ length: 10 }, () => ({ op: "copy", from: "", path }));
    const p = await problem(
      await send("PATCH", "/api/v1/state/kv/deepen", JSON.stringify(ops), "application/json-patch+json"),
      422,
      "invalid",
    );
    assert.match(String(p.detail), /deeper than 512/);
    await unchanged("/api/v1/state/kv/deepen", before);
  });

  it("a problem's status is always the HTTP status: cancelling a finished run is 409 with runStatus", async () => {
    const start = await send("POST", "/api/v1/workflows", JSON.stringify({ type: "plan", input: { steps: 1 } }));
    assert.equal(start.status, 202, await start.clone().text());
    const { runId } = (await start.json()) as { runId: string };
    await until(
      async () =>
        ((await (await api.call(`/api/v1/workflows/${runId}`, { key })).json()) as { status: string }).status ===
        "succeeded"
          ? true
          : undefined,
      "the run to succeed",
    );
    const p = await problem(
      await api.call(`/api/v1/workflows/${runId}/cancel`, { method: "POST", key }),
      409,
      "workflow_finished",
    );
    assert.equal(p.runStatus, "succeeded");
  });

  it("a missing version is named, with the version the record is at", async () => {
    for (let i = 0; i < 3; i++) await send("PUT", "/api/v1/state/kv/user-42", JSON.stringify({ value: { i } }));
    const p = await problem(await api.call("/api/v1/state/kv/user-42/versions/99", { key }), 404, "not_found");
    assert.match(String(p.detail), /no version 99/);
    assert.match(String(p.detail), /at version 3/);
    assert.equal(p.requestedVersion, 99);
    assert.equal(p.currentVersion, 3);
    const absent = await problem(await api.call("/api/v1/state/kv/nobody/versions/1", { key }), 404, "not_found");
    assert.match(String(absent.detail), /no version 1 of kv\/nobody/);
    assert.equal(absent.currentVersion, null);
  });

  it("a transaction's refusal names the operation that failed; nothing is written", async () => {
    assert.equal((await send("PUT", "/api/v1/state/kv/tx-a", JSON.stringify({ value: "a1" }))).status, 201);
    assert.equal((await send("PUT", "/api/v1/state/kv/tx-b", JSON.stringify({ value: "b1" }))).status, 201);
    const a = await record("/api/v1/state/kv/tx-a");
    const b = await record("/api/v1/state/kv/tx-b");
    const tx = (operations: unknown[]) => send("POST", "/api/v1/transactions", JSON.stringify({ operations }));
    const conflict = await problem(
      await tx([
        { op: "put", namespace: "kv", key: "tx-a", value: "a2" },
        { op: "put", namespace: "kv", key: "tx-b", value: "b2", ifMatch: 7 },
        { op: "delete", namespace: "kv", key: "tx-a" },
      ]),
      412,
      "version_conflict",
    );
    assert.equal(conflict.operation, 1);
    assert.match(String(conflict.detail), /^operations\[1\]: /);
    assert.equal(conflict.currentVersion, 1);
    const tooBig = await problem(
      await tx([
        { op: "delete", namespace: "kv", key: "tx-b", ifMatch: 1 },
        { op: "put", namespace: "ratelimits", key: "x", value: "y".repeat(20_000) },
      ]),
      413,
      "too_large",
    );
    assert.equal(tooBig.operation, 1);
    const unknown = await problem(
      await tx([
        { op: "put", namespace: "kv", key: "tx-a", value: 1 },
        { op: "put", namespace: "kv", key: "tx-a", value: 2 },
        { op: "put", namespace: "nope", key: "k", value: 1 },
      ]),
      404,
      "unknown_namespace",
    );
    assert.equal(unknown.operation, 2);
    await unchanged("/api/v1/state/kv/tx-a", a);
    await unchanged("/api/v1/state/kv/tx-b", b);
  });
});
