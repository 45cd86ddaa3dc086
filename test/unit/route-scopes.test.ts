// The README's "Routes and scopes" table is the OpenAPI document's: every operation with its scope, no
// more, no less. The document is built from the same route definitions that enforce the scopes.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { loadConfig } from "../../server/config";
import { buildOpenApiDocument } from "../../server/http/app";

const ROOT = path.resolve(import.meta.dirname, "../..");

test("the README's route × scope table equals the scopes the OpenAPI document declares", async () => {
  const doc = buildOpenApiDocument(loadConfig({})) as {
    paths: Record<string, Record<string, { security?: Record<string, string[]>[] }>>;
  };
  const declared = new Map<string, string>();
  for (const [p, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops))
      declared.set(`${method.toUpperCase()} ${p}`, op.security?.[0]?.bearerAuth?.[0] ?? "none");
  }
  const readme = await readFile(path.join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("### Routes and scopes"), readme.indexOf("### Scopes and namespaces"));
  const documented = new Map<string, string>();
  for (const m of section.matchAll(
    /^\| `((?:GET|PUT|PATCH|DELETE|POST) \/api\/v1\/[^`]+)` \| (?:`([a-z:]+)`|none) \|$/gm,
  ))
    documented.set(m[1]!, m[2] ?? "none");
  assert.ok(declared.size >= 35, `${declared.size} operations`);
  assert.deepEqual(
    Object.fromEntries([...documented].sort()),
    Object.fromEntries([...declared].filter(([k]) => k.startsWith("GET /api/v1/openapi") === false).sort()),
  );
});
