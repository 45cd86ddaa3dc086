// `npm start` runs this first: the Prisma client and the Next.js build must exist before the server starts.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
execFileSync(process.execPath, [path.join(root, "scripts", "prisma-generate.mjs")], { stdio: "inherit" });

/** Newest modification time under the directories whose contents Next.js builds. */
function newest(dir) {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    t = Math.max(t, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
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
