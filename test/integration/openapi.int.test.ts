// The OpenAPI document: valid by a standard parser, in step with the router both ways, and the typed
// client's committed types generated from it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import SwaggerParser from "@apidevtools/swagger-parser";
import { loadConfig } from "../../server/config";
import { createApi } from "../../server/http/app";
import type { Services } from "../../server/container";
import { type ApiFixture, startApi } from "../helpers/api";

describe("OpenAPI document", () => {
  let api: ApiFixture;
  let doc: { openapi: string; paths: Record<string, Record<string, unknown>> };

  before(async () => {
    api = await startApi();
    const res = await api.call("/api/v1/openapi.json");
    assert.equal(res.status, 200);
    doc = (await res.json()) as typeof doc;
  });
  after(async () => {
    await api.close();
  });

  it("validates with a standard OpenAPI parser (3.1)", async () => {
    assert.equal(doc.openapi, "3.1.0");
    await SwaggerParser.validate(structuredClone(doc) as never);
  });

  it("documents every route the router serves, and the router serves every documented path", async () => {
    const config = loadConfig({});
    const routes = createApi(
      new Proxy({ config } as Services, { get: (t, p) => (p === "config" ? t.config : undefined) }),
    ).routes;
    const served = new Set(
      routes
        .filter((r) => /^\/api\/(v1\/|openai\/v1\/|mcp$|langgraph\/)/.test(r.path) && r.path !== "/api/v1/openapi.json")
        .map((r) => `${r.method} ${r.path}`),
    );
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)),
    );
    assert.deepEqual(
      [...served].filter((r) => !documented.has(r)),
      [],
      "served but not documented",
    );
    assert.deepEqual(
      [...documented].filter((r) => !served.has(r)),
      [],
      "documented but not served",
    );
    const designTable = [
      "GET /api/v1/namespaces",
      "GET /api/v1/state/{ns}/{key}",
      "PUT /api/v1/state/{ns}/{key}",
      "PATCH /api/v1/state/{ns}/{key}",
      "DELETE /api/v1/state/{ns}/{key}",
      "GET /api/v1/state/{ns}",
      "GET /api/v1/state/{ns}/{key}/history",
      "GET /api/v1/state/{ns}/{key}/versions/{v}",
      "POST /api/v1/transactions",
      "POST /api/v1/agents/{agent}/sessions",
      "POST /api/v1/agents/{agent}/sessions/{id}/messages",
      "GET /api/v1/agents/{agent}/sessions/{id}",
      "DELETE /api/v1/agents/{agent}/sessions/{id}",
      "POST /api/v1/admin/keys",
      "GET /api/v1/admin/keys",
      "DELETE /api/v1/admin/keys/{id}",
    ];
    for (const route of designTable) assert.ok(documented.has(route), `${route} is documented`);
    // And each documented path answers something other than 404-no-route on the live server.
    for (const entry of documented) {
      const [method, path] = entry.split(" ") as [string, string];
      const concrete = path
        .replace("{ns}", "kv")
        .replace("{key}", "k")
        .replace("{v}", "1")
        .replace("{agent}", "assistant")
        .replace("{id}", "x");
      const res = await api.call(concrete, { method });
      const body = (await res.json().catch(() => ({}))) as { detail?: string };
      assert.notEqual(body.detail, "no such route", entry);
    }
  });
});
