// The first admin key of a deployment without STATEHOUSE_ADMIN_TOKEN, and the file that keeps it.
import { createHash } from "node:crypto";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Config } from "../config";
import { logger } from "../logger";
import type { ApiKeyService } from "./api-keys";

/**
 * First start without STATEHOUSE_ADMIN_TOKEN: create an admin key for tenant `default`. The key is
 * written to a file of its own backend (see adminKeyFile; mode 0600) and shown once when stdout is a
 * terminal; it never goes to the logs, which only say where the file is.
 */
export async function bootstrapAdminKey(keys: ApiKeyService, config: Config): Promise<void> {
  const created = await keys.create({
    tenant: "default",
    scopes: [
      "state:read",
      "state:write",
      "agents:invoke",
      "agents:manage",
      "memories:read",
      "memories:write",
      "workflows:run",
      "admin",
      "platform:admin",
    ],
    name: "bootstrap admin",
  });
  await mkdir(config.dataDir, { recursive: true });
  const file = adminKeyFile(config);
  await writeFile(file, `${created.key}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  if (process.stdout.isTTY)
    process.stdout.write(`\n  Admin API key (shown once, also saved to ${file}):\n  ${created.key}\n\n`);
  logger.info("created the bootstrap admin key", { keyId: created.id, savedTo: file });
}

/**
 * Where the bootstrap admin key of this deployment's warm tier is kept. One file per backend, so moving
 * from the embedded database to DATABASE_URL (or between databases) never overwrites the key that still
 * opens the other one: `admin-key` for the embedded PGlite, `admin-key-<12 hex>` for a PostgreSQL
 * database, named by a digest of its host, port and database name (never its credentials).
 */
export function adminKeyFile(config: Pick<Config, "dataDir" | "DATABASE_URL">): string {
  if (!config.DATABASE_URL) return path.join(config.dataDir, "admin-key");
  const u = new URL(config.DATABASE_URL);
  const id = createHash("sha256")
    .update(`${u.hostname}:${u.port || "5432"}${u.pathname}`)
    .digest("hex")
    .slice(0, 12);
  return path.join(config.dataDir, `admin-key-${id}`);
}

/**
 * Without STATEHOUSE_ADMIN_TOKEN: upgrades a bootstrap key made before platform:admin existed, and creates
 * one when there is no admin key at all.
 */
export async function ensureAdminKey(keys: ApiKeyService, config: Config): Promise<void> {
  if (config.STATEHOUSE_ADMIN_TOKEN) return;
  await keys.upgradeBootstrapKey();
  if (!(await keys.hasAdminKey())) await bootstrapAdminKey(keys, config);
}
