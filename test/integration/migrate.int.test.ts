import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { loadMigrations, migrate, type SqlDriver } from "../../server/db/migrate";
import { createTestDatabase, type TestDatabase } from "../helpers/services";

const driver = (client: pg.Client): SqlDriver => ({
  exec: async (sql) => void (await client.query(sql)),
  query: async <T>(sql: string, params?: unknown[]) => (await client.query(sql, params)).rows as T[],
});

describe("migrations in Prisma's format", () => {
  let db: TestDatabase;
  const clients: pg.Client[] = [];
  const connect = async () => {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    clients.push(c);
    return c;
  };

  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.end()));
    await db.drop();
  });

  it("applies each migration once, even when two processes start at the same moment", async () => {
    const [a, b] = await Promise.all([connect(), connect()]);
    const [ranA, ranB] = await Promise.all([migrate(driver(a)), migrate(driver(b))]);
    const all = (await loadMigrations()).map((m) => m.name);
    assert.deepEqual([...ranA, ...ranB].sort(), all.sort(), "between them, each migration ran exactly once");
    assert.deepEqual(await migrate(driver(a)), [], "nothing left to do");
    const tables = await a.query(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`,
    );
    assert.deepEqual(
      tables.rows.map((r) => r.table_name),
      [
        "_prisma_migrations",
        "api_keys",
        "outbox_events",
        "residency_audit",
        "state_history",
        "state_records",
        "tenant_policies",
        "tenant_regions",
      ],
    );
  });

  it("records Prisma's bookkeeping: name, SHA-256 checksum of migration.sql, finished_at, steps", async () => {
    const c = await connect();
    const rows = (await c.query(`SELECT * FROM "_prisma_migrations" ORDER BY migration_name`)).rows;
    const names = (await loadMigrations()).map((m) => m.name);
    assert.equal(rows.length, names.length);
    for (const row of rows) {
      const bytes = await readFile(path.join("prisma", "migrations", row.migration_name, "migration.sql"));
      assert.equal(row.checksum, createHash("sha256").update(bytes).digest("hex"));
      assert.match(row.id, /^[0-9a-f-]{36}$/);
      assert.ok(row.finished_at instanceof Date);
      assert.equal(row.rolled_back_at, null);
      assert.equal(row.applied_steps_count, 1);
    }
  });

  it("refuses to go on when an applied migration was edited", async () => {
    const c = await connect();
    const migrations = await loadMigrations();
    const edited = migrations.map((m, i) => (i === 0 ? { ...m, checksum: "0".repeat(64) } : m));
    await assert.rejects(migrate(driver(c), edited), /modified after it was applied/);
  });

  it("rolls back a failing migration and records nothing for it", async () => {
    const c = await connect();
    const migrations = [
      ...(await loadMigrations()),
      {
        name: "29991231000000_broken",
        sql: "CREATE TABLE ok_table (id int); SELECT * FROM missing_table;",
        checksum: "f".repeat(64),
      },
    ];
    await assert.rejects(migrate(driver(c), migrations), /29991231000000_broken failed/);
    const tables = await c.query(`SELECT 1 FROM information_schema.tables WHERE table_name = 'ok_table'`);
    assert.equal(tables.rowCount, 0);
    const recorded = await c.query(`SELECT 1 FROM "_prisma_migrations" WHERE migration_name = '29991231000000_broken'`);
    assert.equal(recorded.rowCount, 0);
  });
});
