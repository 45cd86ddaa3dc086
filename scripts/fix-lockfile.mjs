// This machine's npm registry mirror lacks Next.js's macOS and Windows SWC binaries, so `npm install`
// leaves them out of package-lock.json and `npm ci` then refuses the lock as out of sync. Re-adds their
// entries (optional, platform-guarded: npm skips them on Linux). Run after every `npm install`.
import { readFileSync, writeFileSync } from "node:fs";

const file = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(file, "utf8"));
const next = lock.packages["node_modules/next"];
const platforms = {
  "darwin-arm64": ["darwin", "arm64"],
  "darwin-x64": ["darwin", "x64"],
  "win32-arm64-msvc": ["win32", "arm64"],
  "win32-x64-msvc": ["win32", "x64"],
};
for (const [suffix, [os, cpu]] of Object.entries(platforms)) {
  const name = `@next/swc-${suffix}`;
  const version = next?.optionalDependencies?.[name];
  if (version && !lock.packages[`node_modules/${name}`]) {
    lock.packages[`node_modules/${name}`] = {
      version,
      cpu: [cpu],
      license: "MIT",
      optional: true,
      os: [os],
      engines: { node: ">= 10" },
    };
  }
}
lock.packages = Object.fromEntries(
  Object.entries(lock.packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a < b ? -1 : a > b ? 1 : 0)),
);
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
