// Generates the Prisma client into server/db/generated when it is missing or older than the schema.
// Prisma's CLI asks for a schema-engine binary it would download (impossible offline); generation itself
// runs in WASM and never calls it, so any existing executable satisfies the check.
import { execFileSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const schema = path.join(root, "prisma", "schema.prisma");
const marker = path.join(root, "server", "db", "generated", "client.ts");
const fresh = existsSync(marker) && statSync(marker).mtimeMs >= statSync(schema).mtimeMs;
if (!fresh || process.argv.includes("--force")) {
  execFileSync(process.execPath, [path.join(root, "node_modules", "prisma", "build", "index.js"), "generate"], {
    cwd: root,
    stdio: ["ignore", "ignore", "inherit"],
    env: {
      ...process.env,
      PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? "/bin/true",
      PRISMA_HIDE_UPDATE_MESSAGE: "1",
      CHECKPOINT_DISABLE: "1",
    },
  });
}
