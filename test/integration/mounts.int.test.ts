// The API is defined once and mounted twice: by Statehouse's own server, and in the app/api catch-all
// route under `next start`. Both must answer the same.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { apiSuite } from "../helpers/api";
import { freePort } from "../helpers/redis-server";

describe("both mounts answer the same", () => {
  let next: ChildProcess | undefined;
  let nextUrl: string;
  // Registered before the suite's own hooks so that it runs first: next start goes before its database does.
  after(() => next?.kill("SIGTERM"));
  const suite = apiSuite({ keys: { key: "acme" } });

  before(async () => {
    const port = await freePort();
    nextUrl = `http://127.0.0.1:${port}`;
    const root = path.resolve(import.meta.dirname, "../..");
    next = spawn(
      process.execPath,
      [path.join(root, "node_modules/next/dist/bin/next"), "start", "-p", String(port), "-H", "127.0.0.1"],
      {
        cwd: root,
        env: { ...process.env, ...suite.api.env, NEXT_TELEMETRY_DISABLED: "1" },
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

  const normalize = (body: unknown) =>
    JSON.parse(
      JSON.stringify(body)
        .replace(/"(createdAt|updatedAt|at|traceId)":"[^"]*"/g, '"$1":"*"')
        .replace(/"latencyMs":[\d.]+/g, '"latencyMs":0'),
    );

  it("state reads, writes, conflicts, errors and the OpenAPI document", async () => {
    await fetch(`${suite.api.url}/api/v1/state/kv/shared`, {
      method: "PUT",
      headers: { authorization: `Bearer ${suite.key}`, "content-type": "application/json" },
      body: '{"value":{"n":1}}',
    });
    const requests: [string, RequestInit][] = [
      ["/api/health", {}],
      ["/api/ready", {}],
      ["/api/v1/openapi.json", {}],
      ["/api/v1/state/kv/shared?consistency=strong", { headers: { authorization: `Bearer ${suite.key}` } }],
      ["/api/v1/state/kv/absent", { headers: { authorization: `Bearer ${suite.key}` } }],
      [
        "/api/v1/state/kv/shared",
        {
          method: "PUT",
          headers: { authorization: `Bearer ${suite.key}`, "content-type": "application/json", "if-match": '"9"' },
          body: '{"value":2}',
        },
      ],
      [
        "/api/v1/state/kv/shared",
        { method: "PUT", headers: { authorization: `Bearer ${suite.key}`, "content-type": "text/plain" }, body: "x" },
      ],
      ["/api/v1/state/kv/shared", {}],
      ["/api/v1/state/kv", { headers: { authorization: `Bearer ${suite.key}` } }],
      ["/api/v1/namespaces", { headers: { authorization: `Bearer ${suite.key}` } }],
    ];
    for (const [p, init] of requests) {
      const [own, viaNext] = await Promise.all([fetch(`${suite.api.url}${p}`, init), fetch(`${nextUrl}${p}`, init)]);
      assert.equal(viaNext.status, own.status, p);
      for (const h of ["content-type", "etag", "statehouse-tier", "retry-after", "www-authenticate"]) {
        if (h === "statehouse-tier") continue; // which tier answers depends on each process's cache
        assert.equal(viaNext.headers.get(h), own.headers.get(h), `${p}: ${h}`);
      }
      assert.deepEqual(normalize(await viaNext.json()), normalize(await own.json()), p);
    }
    const viaNext = await fetch(`${nextUrl}/api/v1/state/kv/shared`, {
      method: "PUT",
      headers: { authorization: `Bearer ${suite.key}`, "content-type": "application/json", "if-match": '"1"' },
      body: '{"value":{"n":2}}',
    });
    assert.equal(viaNext.status, 200);
    const own = await fetch(`${suite.api.url}/api/v1/state/kv/shared?consistency=strong`, {
      headers: { authorization: `Bearer ${suite.key}` },
    });
    assert.equal(own.headers.get("etag"), '"2"', "a write through one mount is seen through the other");
  });
});
