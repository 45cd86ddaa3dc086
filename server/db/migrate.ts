import { createHash, randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";

/** The least a migrator needs from a database driver: run a script, run a parameterized query. */
export interface SqlDriver {
  exec(sql: string): Promise<void>;
  query<T>(sql: string, params?: unknown[]): Promise<T[]>;
}

export interface Migration {
  name: string;
  sql: string;
  /** SHA-256 hex of migration.sql's bytes: what Prisma records, so `prisma migrate status` agrees. */
  checksum: string;
}

// Resolved from the working directory (the project root for npm scripts): bundlers rewrite import.meta.
export const MIGRATIONS_DIR = process.env.STATEHOUSE_MIGRATIONS_DIR ?? path.resolve("prisma", "migrations");

// Any fixed 64-bit number; every Statehouse process takes the same lock so only one migrates at a time.
const MIGRATION_LOCK = 7_236_118_905_143n;

/** Reads prisma/migrations/<timestamp>_<name>/migration.sql in name order. */
export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const names = (await readdir(dir, { withFileTypes: true }))
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  return Promise.all(
    names.map(async (name) => {
      const bytes = await readFile(path.join(dir, name, "migration.sql"));
      return { name, sql: bytes.toString("utf8"), checksum: createHash("sha256").update(bytes).digest("hex") };
    }),
  );
}

/**
 * Applies pending migrations, each in its own transaction, recording them in Prisma's
 * `_prisma_migrations` table exactly as Prisma's engine does. Safe when several processes start at
 * once: they queue on an advisory lock and the later ones find nothing to do. Refuses to go on when an
 * applied migration's file was edited (its checksum changed), as Prisma does.
 */
export async function migrate(db: SqlDriver, migrations?: Migration[]): Promise<string[]> {
  const all = migrations ?? (await loadMigrations());
  await db.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK.toString()]);
  try {
    await db.exec(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
      "id" VARCHAR(36) PRIMARY KEY NOT NULL,
      "checksum" VARCHAR(64) NOT NULL,
      "finished_at" TIMESTAMPTZ,
      "migration_name" VARCHAR(255) NOT NULL,
      "logs" TEXT,
      "rolled_back_at" TIMESTAMPTZ,
      "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
      "applied_steps_count" INTEGER NOT NULL DEFAULT 0
    )`);
    const applied = await db.query<{ migration_name: string; checksum: string }>(
      `SELECT migration_name, checksum FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
    );
    const done = new Map(applied.map((r) => [r.migration_name, r.checksum]));
    const ran: string[] = [];
    for (const m of all) {
      const recorded = done.get(m.name);
      if (recorded !== undefined) {
        if (recorded !== m.checksum)
          throw new Error(`migration ${m.name} was modified after it was applied (checksum differs)`);
        continue;
      }
      const id = randomUUID();
      await db.exec("BEGIN");
      try {
        await db.exec(m.sql);
        await db.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
           VALUES ($1, $2, $3, now(), now(), 1)`,
          [id, m.checksum, m.name],
        );
        await db.exec("COMMIT");
      } catch (err) {
        await db.exec("ROLLBACK");
        throw new Error(`migration ${m.name} failed: ${(err as Error).message}`);
      }
      ran.push(m.name);
    }
    return ran;
  } finally {
    await db.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK.toString()]);
  }
}
