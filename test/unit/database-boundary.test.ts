// Nothing outside server/db and the repositories touches Prisma or pg: every query lives beside its owner.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";

const ROOT = path.resolve(import.meta.dirname, "..", "..");

/** Where database access is allowed: the database module, the repositories, and the warm tier itself. */
function mayQuery(file: string): boolean {
  return file.startsWith("server/db/") || file.endsWith("-repository.ts") || file === "server/state/postgres.ts";
}

/**
 * Composition roots (the container, and a process that builds only what it uses) hand the Prisma
 * client (`clients.db.prisma`) to repositories' constructors: they may name the client, never query through it.
 */
const MAY_PASS_CLIENT = new Set(["server/container.ts", "server/lifecycle/state-migrate-cli.ts"]);

const IMPORTS =
  /\bfrom\s+["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)|\brequire\s*\(\s*["']([^"']+)["']\s*\)/g;
const DATABASE_MODULES = /^(@prisma\/|pg$|pg\/|pglite-prisma-adapter$|@electric-sql\/pglite)|\/db\/generated(\/|$)/;
const RAW_QUERIES = /\$(queryRaw|executeRaw|transaction)\w*/;
const CLIENT = /\.prisma\b/;

/** What a source file does with the database that it should not: one line per finding. */
function findings(file: string, text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(IMPORTS)) {
    const spec = m[1] ?? m[2] ?? m[3]!;
    if (DATABASE_MODULES.test(spec)) found.push(`${file} imports ${spec}`);
  }
  for (const [i, line] of text.split("\n").entries()) {
    if (RAW_QUERIES.test(line)) found.push(`${file}:${i + 1} runs SQL: ${line.trim()}`);
    if (CLIENT.test(line) && !MAY_PASS_CLIENT.has(file)) found.push(`${file}:${i + 1} uses .prisma: ${line.trim()}`);
  }
  return found;
}

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.posix.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== "node_modules" && rel !== "server/db/generated") out.push(...sources(rel));
    } else if (/\.(ts|tsx|mts|mjs|js)$/.test(entry.name)) out.push(rel);
  }
  return out;
}

describe("the database boundary", () => {
  it("no module outside server/db, the repositories and the warm tier imports Prisma or pg, or runs SQL", () => {
    const files = [...sources("server"), ...sources("app"), "instrumentation.ts"].filter((f) => !mayQuery(f));
    assert.ok(files.length > 50, `the walk found the source tree (${files.length} files)`);
    const found = files.flatMap((f) => findings(f, readFileSync(path.join(ROOT, f), "utf8")));
    assert.deepEqual(found, [], "move these queries into the owner's *-repository.ts");
  });

  it("the check sees each way in", () => {
    const bad = [
      `import type { PrismaClient } from "../db/generated/client";`,
      `import pg from "pg";`,
      `const { PrismaPg } = await import("@prisma/adapter-pg");`,
      "await this.prisma.$queryRawUnsafe(`SELECT 1`);",
      "await client.$executeRaw`DELETE FROM x`;",
      "const sql = warm.prisma;",
    ].join("\n");
    // Seven: `this.prisma.$queryRawUnsafe` is both a use of the client and raw SQL.
    assert.equal(findings("server/x.ts", bad).length, 7);
    assert.deepEqual(findings("server/x.ts", `import { x } from "./pg-like"; // a prism is not prisma`), []);
  });
});
