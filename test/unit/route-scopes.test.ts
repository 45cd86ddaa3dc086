// The "Routes and scopes" table of docs/api.md is the OpenAPI document's: every operation with its scope,
// no more, no less. The document is built from the same route definitions that enforce the scopes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadConfig } from "../../server/config";
import { buildOpenApiDocument } from "../../server/http/app";
import { readPage, section, tables } from "../helpers/docs";

test("the route × scope table of docs/api.md equals the scopes the OpenAPI document declares", () => {
  const doc = buildOpenApiDocument(loadConfig({})) as {
    paths: Record<string, Record<string, { security?: Record<string, string[]>[] }>>;
  };
  const declared = new Map<string, string>();
  for (const [p, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops))
      declared.set(
        `${method.toUpperCase()} ${p}`,
        op.security?.[0]?.bearerAuth ? (op.security[0].bearerAuth[0] ?? "any key") : "none",
      );
  }
  // Compared by cells: a Markdown formatter may pad the columns.
  const [table] = tables(section(readPage("docs/api.md"), "Routes and scopes"));
  assert.ok(table, "a table under docs/api.md's Routes and scopes heading");
  const documented = new Map<string, string>();
  for (const [route, scope] of table.slice(1)) {
    const m = /^`((?:GET|PUT|PATCH|DELETE|POST) \/api\/(?:v1\/[^`]+|openai\/v1\/[^`]+|mcp|langgraph\/[^`]+))`$/.exec(
      route!,
    );
    const s = /^(?:`([a-z:]+)`|none|any key\b.*)$/.exec(scope!);
    if (m && s) documented.set(m[1]!, s[1] ?? (scope!.startsWith("any key") ? "any key" : "none"));
  }
  assert.ok(declared.size >= 35, `${declared.size} operations`);
  assert.deepEqual(
    Object.fromEntries([...documented].sort()),
    Object.fromEntries([...declared].filter(([k]) => k.startsWith("GET /api/v1/openapi") === false).sort()),
  );
});
