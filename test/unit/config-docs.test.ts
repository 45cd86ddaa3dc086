// docs/configuration.md names every environment variable Statehouse reads: each key of the schema in
// server/config.ts and each variable read directly elsewhere in server/ (telemetry, logs, migrations).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { ROOT, readPage } from "../helpers/docs";

/** Variables set for Next.js itself, not settings of Statehouse. */
const NOT_SETTINGS = new Set(["NEXT_RUNTIME"]);

test("docs/configuration.md names every environment variable the server reads", () => {
  const config = readFileSync(path.join(ROOT, "server/config.ts"), "utf8");
  const start = config.indexOf("const Env = z.object({");
  const schema = config.slice(start, config.indexOf("\n});", start));
  const names = new Set([...schema.matchAll(/^ {2}([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]!));
  assert.ok(names.size >= 40, `${names.size} variables in server/config.ts`);
  const files = execFileSync("grep", ["-rlE", 'env(\\.|\\[")[A-Z]', "server", "--include=*.ts", "--include=*.mjs"], {
    cwd: ROOT,
    encoding: "utf8",
  })
    .split("\n")
    .filter((f) => f && !f.includes("/generated/"));
  for (const file of files) {
    for (const line of readFileSync(path.join(ROOT, file), "utf8").split("\n")) {
      if (/^\s*(\*|\/\/)/.test(line)) continue; // comments and TSDoc examples
      for (const m of line.matchAll(/\benv(?:\.|\[")([A-Z][A-Z0-9_]+)/g)) names.add(m[1]!);
    }
  }
  const page = readPage("docs/configuration.md");
  const missing = [...names].filter((n) => !NOT_SETTINGS.has(n) && !page.includes(`\`${n}\``)).sort();
  assert.deepEqual(missing, [], "variables missing from docs/configuration.md");
});
