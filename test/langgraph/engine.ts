import { randomBytes } from "node:crypto";
import { buildServices, type Services } from "../../server/container";
import { loadConfig } from "../../server/config";

/**
 * The engine as the server builds it (Redis hot tier, PostgreSQL warm tier, breakers, metrics), over
 * the database and key prefix the calling node test created and will remove (passed in the environment).
 */
export async function engineFromEnv(): Promise<Services> {
  const prefix = process.env.STATEHOUSE_KEY_PREFIX!;
  return buildServices(
    loadConfig({
      DATABASE_URL: process.env.DATABASE_URL,
      REDIS_URL: process.env.REDIS_URL,
      STATEHOUSE_KEY_PREFIX: prefix,
      STATEHOUSE_ADMIN_TOKEN: `test-admin-${randomBytes(12).toString("hex")}`,
      STATEHOUSE_DATA_DIR: `/tmp/${prefix.replace(/[^a-z0-9_-]/gi, "")}`,
      STATEHOUSE_OUTBOX_RELAY: "off",
    }),
  );
}

/** A tenant no other checkpointer of the run uses: the suite reuses thread ids such as "1" across savers. */
export function freshTenant(): string {
  return `lg-${randomBytes(6).toString("hex")}`;
}
