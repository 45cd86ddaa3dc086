// The Errors table of docs/api.md is server/http/problem.ts's STATUS table: every code with its status,
// no more, no less, so a new error code cannot ship undocumented.
import assert from "node:assert/strict";
import { test } from "node:test";
import { STATUS } from "../../server/http/problem";
import { readPage, section, tables } from "../helpers/docs";

test("docs/api.md's Errors table lists every problem code with its status", () => {
  const [table] = tables(section(readPage("docs/api.md"), "Errors"));
  assert.ok(table, "a table under docs/api.md's Errors heading");
  const documented = Object.fromEntries(
    table.slice(1).map(([code, status]) => [code!.replace(/^`|`$/g, ""), Number(status)]),
  );
  assert.deepEqual(documented, { ...STATUS });
});
