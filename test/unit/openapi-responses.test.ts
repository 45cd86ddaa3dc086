// Every answer of the API has a schema the OpenAPI document spells out: the admin and telemetry routes
// (what the dashboard reads through the typed client) and every other /api/v1 route. A JSON value the
// caller chose (a record's value, a run's input) may be any JSON; an object the API builds may not be
// an open record, or the typed client and the dashboard learn nothing from it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadConfig } from "../../server/config";
import { buildOpenApiDocument } from "../../server/http/app";

type Schema = {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  items?: Schema;
  allOf?: Schema[];
  anyOf?: Schema[];
  oneOf?: Schema[];
};
type Operation = { responses: Record<string, { content?: Record<string, { schema?: Schema }> }> };
const doc = buildOpenApiDocument(loadConfig({})) as {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
};

const resolve = (s: Schema): Schema =>
  s.$ref ? resolve(doc.components.schemas[s.$ref.replace("#/components/schemas/", "")]!) : s;
const isObjectType = (s: Schema) => s.type === "object" || (Array.isArray(s.type) && s.type.includes("object"));

/** Where, under `s`, an object type has no properties of its own (an open record): paths like `runs[].x`. */
function openRecords(s: Schema, at: string, seen = new Set<Schema>()): string[] {
  const r = resolve(s);
  if (seen.has(r)) return [];
  seen.add(r);
  const parts = [...(r.allOf ?? []), ...(r.anyOf ?? []), ...(r.oneOf ?? [])];
  const found: string[] = parts.flatMap((p) => openRecords(p, at, seen));
  // A map whose values have a type of their own (OpenAI's metadata: strings) says what it holds.
  const values = typeof r.additionalProperties === "object" ? resolve(r.additionalProperties) : undefined;
  const typedMap = values !== undefined && values.type !== undefined && !isObjectType(values);
  if (isObjectType(r) && Object.keys(r.properties ?? {}).length === 0 && parts.length === 0 && !typedMap)
    found.push(at || "(root)");
  for (const [name, p] of Object.entries(r.properties ?? {})) found.push(...openRecords(p, `${at}.${name}`, seen));
  if (typeof r.additionalProperties === "object") found.push(...openRecords(r.additionalProperties, `${at}{}`, seen));
  if (r.items) found.push(...openRecords(r.items, `${at}[]`, seen));
  return found;
}

/** Has the schema something to say: properties (its own or its parts') or items. */
function isDescribed(s: Schema): boolean {
  const r = resolve(s);
  return (
    Object.keys(r.properties ?? {}).length > 0 ||
    r.items !== undefined ||
    [...(r.allOf ?? []), ...(r.anyOf ?? []), ...(r.oneOf ?? [])].some(isDescribed)
  );
}

const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
  Object.entries(ops).map(([method, op]) => ({ name: `${method.toUpperCase()} ${path}`, path, op })),
);
// The telemetry routes (metrics, alerts, capacity) live under /api/v1/admin too.
const admin = operations.filter((o) => o.path.startsWith("/api/v1/admin/"));

test("every admin and telemetry operation answers a described schema, no open record in it", () => {
  assert.ok(admin.length >= 18, `${admin.length} admin operations`);
  for (const name of ["GET /api/v1/admin/metrics", "GET /api/v1/admin/alerts", "GET /api/v1/admin/capacity"])
    assert.ok(
      admin.some((o) => o.name === name),
      `${name} is documented`,
    );
  const problems: string[] = [];
  for (const { name, op } of admin) {
    const success = Object.entries(op.responses).filter(([status]) => /^2\d\d$/.test(status));
    if (success.length === 0) problems.push(`${name}: no 2xx response`);
    for (const [status, response] of success) {
      if (status === "204") continue; // No Content: nothing to describe.
      const schema = response.content?.["application/json"]?.schema;
      if (!schema) problems.push(`${name} ${status}: no application/json schema`);
      else if (!isDescribed(schema)) problems.push(`${name} ${status}: neither properties nor items`);
      else for (const at of openRecords(schema, "")) problems.push(`${name} ${status}: open record at ${at}`);
    }
  }
  assert.deepEqual(problems, []);
});

test("no other /api/v1 operation answers an open record either", () => {
  const problems: string[] = [];
  for (const { name, op } of operations.filter((o) => !admin.includes(o))) {
    for (const [status, response] of Object.entries(op.responses)) {
      if (!/^2\d\d$/.test(status)) continue;
      const schema = response.content?.["application/json"]?.schema;
      if (schema) for (const at of openRecords(schema, "")) problems.push(`${name} ${status}: open record at ${at}`);
    }
  }
  assert.deepEqual(problems, []);
});
