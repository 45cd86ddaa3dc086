// One table of request limits (server/http/limits.ts), the Limits table of docs/api.md and the OpenAPI
// document's info.x-statehouse-limits: the same rows, so they cannot drift apart.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig } from "../../server/config";
import { buildOpenApiDocument } from "../../server/http/app";
import { limitsMarkdown, MAX_MESSAGE_CHARS, MAX_TRANSACTION_OPERATIONS, requestLimits } from "../../server/http/limits";
import { STATUS } from "../../server/http/problem";
import { readPage, section, tables } from "../helpers/docs";

describe("request limits", () => {
  const config = loadConfig({});
  const limits = requestLimits(config);

  it("the Limits table of docs/api.md is the table in limits.ts", () => {
    // Compared cell by cell: a Markdown formatter may pad the columns.
    const documented = tables(section(readPage("docs/api.md"), "Limits"));
    assert.equal(documented.length, 1, "one table under docs/api.md's Limits heading");
    assert.deepEqual(
      documented[0],
      tables(limitsMarkdown(limits))[0],
      "docs/api.md's Limits table differs from server/http/limits.ts",
    );
  });

  it("the OpenAPI document publishes the same rows, as configured", () => {
    const doc = buildOpenApiDocument(config) as {
      info: Record<string, unknown>;
      components: {
        schemas: Record<string, { properties: Record<string, { maxItems?: number; maxLength?: number }> }>;
      };
    };
    assert.deepEqual(doc.info["x-statehouse-limits"], JSON.parse(JSON.stringify(limits)));
    const custom = buildOpenApiDocument(loadConfig({ STATEHOUSE_MAX_BODY_BYTES: "1234" })) as {
      info: Record<string, { name: string; limit: number }[]>;
    };
    assert.equal(custom.info["x-statehouse-limits"]!.find((l) => l.name === "body-bytes")!.limit, 1234);
    // The route schemas use the same constants the table names.
    assert.equal(
      doc.components.schemas.TransactionRequest!.properties.operations!.maxItems,
      MAX_TRANSACTION_OPERATIONS,
    );
    assert.equal(doc.components.schemas.MessageRequest!.properties.content!.maxLength, MAX_MESSAGE_CHARS);
  });

  it("every row is well formed, named once, with the status problem.ts maps its code to", () => {
    assert.equal(new Set(limits.map((l) => l.name)).size, limits.length);
    for (const l of limits) {
      assert.ok(Number.isSafeInteger(l.limit) && l.limit > 0, l.name);
      if (l.code === undefined) {
        // Not refused with a problem: the row says what happens instead.
        assert.ok(l.status === undefined && typeof l.otherwise === "string" && l.otherwise.length > 0, l.name);
        continue;
      }
      assert.equal(l.status, STATUS[l.code], l.name);
      assert.ok(l.status! >= 400 && l.status! < 500, l.name);
    }
    for (const name of [
      "body-bytes",
      "json-depth",
      "patch-operations",
      "patch-work-bytes",
      "transaction-operations",
      "list-limit",
      "key-bytes",
      "namespace-chars",
      "message-chars",
      "invoke-messages",
      "batch-documents",
      "auth-failures",
      "request-ms",
      "agent-text-prefix-chars",
      "agent-task-ms",
    ]) {
      assert.ok(
        limits.some((l) => l.name === name),
        `${name} is in the table`,
      );
    }
  });
});
