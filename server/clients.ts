// The process's connections, opened before anything is built and closed after everything: Redis and the warm database.
import path from "node:path";
import type { Config } from "./config";
import { openWarmDatabase, type WarmDatabase } from "./db/warm-database";
import { connectRedis, type RedisClient } from "./state/redis";

export interface Clients {
  /** Present when REDIS_URL is set; the hot tier is in-process memory otherwise. */
  readonly redis?: RedisClient;
  /** PostgreSQL at DATABASE_URL, or the embedded PGlite database under the data directory. */
  readonly db: WarmDatabase;
  close(): Promise<void>;
}

/** Where the warm tier lives: DATABASE_URL, or PGlite on disk under the data directory. */
export function warmTarget(config: Pick<Config, "DATABASE_URL" | "dataDir">): { url: string } | { pgliteDir: string } {
  return config.DATABASE_URL ? { url: config.DATABASE_URL } : { pgliteDir: path.join(config.dataDir, "pglite") };
}

/** Opens (and migrates, unless told not to) the warm database, then connects to Redis when configured. */
export async function openClients(
  config: Pick<Config, "DATABASE_URL" | "REDIS_URL" | "dataDir">,
  options: { migrate?: boolean } = {},
): Promise<Clients> {
  const db = await openWarmDatabase(warmTarget(config), options);
  const redis = config.REDIS_URL ? await connectRedis(config.REDIS_URL) : undefined;
  return {
    db,
    redis,
    async close() {
      redis?.disconnect();
      await db.close();
    },
  };
}
