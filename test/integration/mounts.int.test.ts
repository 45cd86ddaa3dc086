// The API is defined once and mounted twice: by Statehouse's own server, and in the app/api catch-all
// route under `next start`. Both must answer the same.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { type ApiFixture, startApi } from "../helpers/api";
import { freePort } from "../helpers/redis-server";

describe("both mounts answer the same", () => {
  let api: ApiFixture;
  let next: ChildProcess;
  let nextUrl: string;
  let key: string;

  before(async () => {
    api = await startApi();
    ({ key } = await api.clientFor("acme"));
    const port = await freePort();
    nextUrl = `http://127.0.0.1:${port}`;
    const root = path.resolve(import.meta.dirname, "../..");
    next = spawn(
      process.execPath,
      [path.join(root, "node_modules/next/dist/bin/next"), "start", "-p", String(port), "-H", "127.0.0.1"],
      {
        cwd: root,
        env: { ...process.env, ...api.env, NEXT_TELEMETRY_DISABLED: "1" },
        stdio: "ignore",
      },
    );
    for (let i = 0; i < 100; i++) {
      const ok = await fetch(`${nextUrl}/api/health`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error("next start did not come up");
  });
  after(async () => {
    next.kill("SIGTERM");
    await api.close();
  });

  const normalize = (body: unknown) =>
    JSON.parse(
      JSON.stringify(body)
        .replace(/"(createdAt|updatedAt|at|traceId)":"[^"]*"/g, '"$1":"*"')
        .replace(/"latencyMs":[\d.]+/g, '"latencyMs":0'),
    );

  it("state reads, writes, conflicts, errors and the OpenAPI document", async () => {
    await fetch(`${api.url}/api/v1/state/kv/shared`, {
      method: "PUT",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: '{"value":{"n":1}}',
    });
    const requests: [string, RequestInit][] = [
      ["/api/health", {}],
      ["/api/ready", {}],
      ["/api/v1/openapi.json", {}],
      ["/api/v1/state/kv/shared?consistency=strong", { headers: { authorization: `Bearer ${key}` } }],
      ["/api/v1/state/kv/absent", { headers: { authorization: `Bearer ${key}` } }],
      [
        "/api/v1/state/kv/shared",
        {
          method: "PUT",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "if-match": '"9"' },
          body: '{"value":2}',
        },
      ],
      [
        "/api/v1/state/kv/shared",
        { method: "PUT", headers: { authorization: `Bearer ${key}`, "content-type": "text/plain" }, body: "x" },
      ],
      ["/api/v1/state/kv/shared", {}],
      ["/api/v1/state/kv", { headers: { authorization: `Bearer ${key}` } }],
      ["/api/v1/namespaces", { headers: { authorization: `Bearer ${key}` } }],
    ];
    for (const [p, init] of requests) {
      const [own, viaNext] = await Promise.all([fetch(`${api.url}${p}`, init), fetch(`${nextUrl}${p}`, init)]);
      assert.equal(viaNext.status, own.status, p);
      for (const h of ["content-type", "etag", "statehouse-tier", "retry-after", "www-authenticate"]) {
        if (h === "statehouse-tier") continue; // which tier answers depends on each process's cache
        assert.equal(viaNext.headers.get(h), own.headers.get(h), `${p}: ${h}`);
      }
      assert.deepEqual(normalize(await viaNext.json()), normalize(await own.json()), p);
    }
    const viaNext = await fetch(`${nextUrl}/api/v1/state/kv/shared`, {
      method: "PUT",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "if-match": '"1"' },
      body: '{"value":{"n":2}}',
    });
    assert.equal(viaNext.status, 200);
    const own = await fetch(`${api.url}/api/v1/state/kv/shared?consistency=strong`, {
      headers: { authorization: `Bearer ${key}` },
    });
    assert.equal(own.headers.get("etag"), '"2"', "a write through one mount is seen through the other");
  });
});
