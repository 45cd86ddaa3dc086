// app/ (the dashboard and the Next mount) reaches into server/ only through three doors: the typed client
// (server/client), the shared values and types (server/shared), and the one entry that mounts the API and
// checks the dashboard's session (server/next-entry.ts). Everything else in server/ may change shape
// without the dashboard noticing, and must never be pulled into a browser bundle.
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";

const ROOT = path.resolve(import.meta.dirname, "../..");
const SERVER = path.join(ROOT, "server");
const ALLOWED = [
  path.join(SERVER, "client"),
  path.join(SERVER, "client", "index"),
  path.join(SERVER, "client", "index.ts"),
  path.join(SERVER, "next-entry"),
  path.join(SERVER, "next-entry.ts"),
];
const isAllowed = (target: string) => ALLOWED.includes(target) || path.dirname(target) === path.join(SERVER, "shared");

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((e) =>
      e.isDirectory()
        ? sourceFiles(path.join(dir, e.name))
        : /\.(c|m)?(t|j)sx?$/.test(e.name)
          ? [path.join(dir, e.name)]
          : [],
    ),
  );
  return nested.flat();
}

/** Every module specifier of a file: static imports and re-exports (type-only too), import(), require(). */
function specifiers(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/\b(?:import|export)\s+(?:type\s+)?(?:[^'"`;]*?\sfrom\s+)?["']([^"']+)["']/g))
    found.push(m[1]!);
  for (const m of text.matchAll(/\b(?:import|require)\s*\(\s*["']([^"']+)["']\s*\)/g)) found.push(m[1]!);
  return found;
}

/** The file a specifier names, without extension, or undefined for packages. */
function target(file: string, spec: string): string | undefined {
  if (spec.startsWith("@/")) return path.join(ROOT, spec.slice(2));
  if (spec.startsWith(".")) return path.resolve(path.dirname(file), spec);
  return undefined;
}

test("app/ imports from server/ only the typed client, server/shared and server/next-entry", async () => {
  const files = await sourceFiles(path.join(ROOT, "app"));
  assert.ok(files.length >= 15, `${files.length} files under app/`);
  const offending: string[] = [];
  let serverImports = 0;
  for (const file of files) {
    for (const spec of specifiers(await readFile(file, "utf8"))) {
      const t = target(file, spec);
      if (!t || !(t === SERVER || t.startsWith(SERVER + path.sep))) continue;
      serverImports++;
      if (!isAllowed(t)) offending.push(`${path.relative(ROOT, file)} imports ${spec}`);
    }
  }
  assert.deepEqual(offending, []);
  // The scan sees the doors it allows (so a broken pattern cannot pass by finding nothing).
  assert.ok(serverImports >= 3, `${serverImports} imports of server/ found`);
});

test("the modules the dashboard's browser bundle may load import nothing server-side", async () => {
  // server/shared: no imports at all. server/client: openapi-fetch and its generated types; type-only
  // imports (erased before bundling) are the only way it may name anything else.
  for (const file of await sourceFiles(path.join(SERVER, "shared")))
    assert.deepEqual(specifiers(await readFile(file, "utf8")), [], path.relative(ROOT, file));
  const client = await readFile(path.join(SERVER, "client", "index.ts"), "utf8");
  const valueImports = [
    ...client.matchAll(/\b(?:import|export)\s+(?!type\b)(?:[^'"`;]*?\sfrom\s+)?["']([^"']+)["']/g),
  ].map((m) => m[1]!);
  assert.deepEqual(
    valueImports.filter((s) => s !== "openapi-fetch" && s !== "./schema"),
    [],
    "server/client/index.ts imports only openapi-fetch at run time",
  );
});
