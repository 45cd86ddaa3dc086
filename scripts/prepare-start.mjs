// `npm start` runs this first: the Prisma client, the typed client's types and the Next.js build must exist
// before the server starts (and are rebuilt when their sources changed).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
execFileSync(process.execPath, [path.join(root, "scripts", "prisma-generate.mjs")], { stdio: "inherit" });

/** Newest modification time under the directories whose contents Next.js builds. */
function newest(dir, skip = new Set()) {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (skip.has(p)) continue;
    t = Math.max(t, entry.isDirectory() ? newest(p, skip) : statSync(p).mtimeMs);
  }
  return t;
}
const clientTypes = path.join(root, "server", "client", "schema.d.ts");
const generated = new Set([clientTypes, path.join(root, "server", "db", "generated")]);
if (!existsSync(clientTypes) || newest(path.join(root, "server"), generated) > statSync(clientTypes).mtimeMs) {
  execFileSync(process.execPath, ["--import", "tsx", path.join(root, "scripts", "generate-client.ts")], {
    cwd: root,
    stdio: "inherit",
  });
}

const buildId = path.join(root, ".next", "BUILD_ID");
const sources = ["app", "server"].map((d) => newest(path.join(root, d)));
const stale =
  !existsSync(buildId) ||
  Math.max(...sources, statSync(path.join(root, "next.config.js")).mtimeMs) > statSync(buildId).mtimeMs;
if (stale || process.argv.includes("--force")) {
  console.log("statehouse: building the dashboard (next build)...");
  const build = spawnSync(process.execPath, [path.join(root, "node_modules", "next", "dist", "bin", "next"), "build"], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" },
  });
  if (build.status !== 0) {
    process.stderr.write(build.stdout + build.stderr);
    process.exit(build.status ?? 1);
  }
}
