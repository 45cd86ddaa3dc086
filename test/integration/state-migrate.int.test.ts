import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { loadConfig } from "../../server/config";
import { openClients } from "../../server/clients";
import { buildServices } from "../../server/container";
import { StateMigrateRepository } from "../../server/lifecycle/state-migrate-repository";
import { type MigrateReport, StateMigration } from "../../server/lifecycle/state-migrate";
import { PostgresStore } from "../../server/state/postgres";
import { createTestDatabase, createTestRedis, type TestDatabase } from "../helpers/services";

// `npm run state:migrate` as an operator runs it: a real child process over the machine's PostgreSQL and
// Redis, with the namespaces a deployment declares (test/fixtures/namespaces-v3.ts: notes and profiles
// at schema version 3, upgraders v1 { text } → v2 { body } → v3 { body, words }).

const ROOT = path.resolve(import.meta.dirname, "../..");
const NAMESPACES_V3 = path.join(ROOT, "test/fixtures/namespaces-v3.ts");
const TENANTS = { acme: 6000, globex: 4000 };
const TOTAL = TENANTS.acme + TENANTS.globex;
/** Every 1000th note has an expiry, which the upgrade must keep. */
const EXPIRING = (i: number) => i % 1000 === 7;

interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

describe("state:migrate on 10 000 stored records", () => {
  let db: TestDatabase;
  let sql: pg.Client;
  let dataDir: string;
  const redis = createTestRedis();
  let env: Record<string, string>;

  /**
   * Notes as an older deployment (schema version 1) left them: a record at version 1 and its history
   * entry. One statement per tenant: 10 000 writes through the API would take most of the time budget.
   */
  async function seedNotes(tenant: string, count: number): Promise<void> {
    await sql.query(
      `WITH src AS (
         SELECT $1::text AS tenant, 'n' || lpad(i::text, 5, '0') AS key, json_build_object('text', 'note number ' || i || ' of ' || $1) AS value,
                CASE WHEN i % 1000 = 7 THEN now() + interval '1 day' END AS expires_at
         FROM generate_series(0, $2::int - 1) AS i
       ), r AS (
         INSERT INTO state_records (tenant, namespace, key, value, version, schema_version, created_at, updated_at, expires_at, size_bytes, deleted)
         SELECT tenant, 'notes', key, value, 1, 1, now(), now(), expires_at, octet_length(value::text), false FROM src
       )
       INSERT INTO state_history (tenant, namespace, key, version, operation, actor, value, schema_version, size_bytes, created_at)
       SELECT tenant, 'notes', key, 1, 'put', 'old-deployment', value, 1, octet_length(value::text), now() FROM src`,
      [tenant, count],
    );
  }

  before(async () => {
    db = await createTestDatabase();
    await (await PostgresStore.open({ url: db.url }, { migrate: true })).close(); // the schema, as the server makes it
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    dataDir = await mkdtemp(path.join(tmpdir(), "sh-migrate-"));
    const inherited = [
      "DATABASE_URL",
      "REDIS_URL",
      "STATEHOUSE_DATA_DIR",
      "STATEHOUSE_ADMIN_TOKEN",
      "STATEHOUSE_NAMESPACES",
      "STATEHOUSE_KEY_PREFIX",
    ];
    env = {
      ...(Object.fromEntries(Object.entries(process.env).filter(([k]) => !inherited.includes(k))) as Record<
        string,
        string
      >),
      NEXT_TELEMETRY_DISABLED: "1",
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      STATEHOUSE_KEY_PREFIX: redis.prefix.slice(0, 32),
      STATEHOUSE_DATA_DIR: dataDir,
      STATEHOUSE_ADMIN_TOKEN: "test-admin-token-for-state-migrate",
      STATEHOUSE_NAMESPACES: NAMESPACES_V3,
    };
    for (const [tenant, count] of Object.entries(TENANTS)) await seedNotes(tenant, count);
  });

  after(async () => {
    await sql?.end();
    await Promise.all([db?.drop(), redis.cleanup(), rm(dataDir, { recursive: true, force: true })]);
  });

  /** Runs the CLI; `killWhen` sees each progress line on stderr and may SIGKILL the process. */
  function migrate(
    args: string[],
    options: { npm?: boolean; killWhen?: (line: string, child: ChildProcess) => void } = {},
  ): Promise<CliRun> {
    const child: ChildProcess = options.npm
      ? spawn("npm", ["run", "--silent", "state:migrate", "--", ...args], {
          cwd: ROOT,
          env: env as NodeJS.ProcessEnv,
          stdio: ["ignore", "pipe", "pipe"],
        })
      : spawn(process.execPath, ["--import", "tsx", "server/lifecycle/state-migrate-cli.ts", ...args], {
          cwd: ROOT,
          env: env as NodeJS.ProcessEnv,
          stdio: ["ignore", "pipe", "pipe"],
        });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr!.on("data", (c: Buffer) => {
      const text = c.toString("utf8");
      stderr += text;
      for (const line of text.split("\n")) if (line) options.killWhen?.(line, child);
    });
    return new Promise((resolve) => child.once("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
  }

  const report = (run: CliRun): MigrateReport => JSON.parse(run.stdout.trim().split("\n").at(-1)!) as MigrateReport;

  /** (schema version, record version) → count, for the notes namespace. */
  async function versions(): Promise<Record<string, number>> {
    const rows = (
      await sql.query(
        `SELECT schema_version, version, count(*)::int AS n FROM state_records WHERE namespace = 'notes' GROUP BY 1, 2`,
      )
    ).rows;
    return Object.fromEntries(rows.map((r) => [`s${r.schema_version}v${r.version}`, r.n]));
  }

  const progressFiles = async () =>
    existsSync(path.join(dataDir, "state-migrate")) ? readdir(path.join(dataDir, "state-migrate")) : [];

  it("a dry run (npm run state:migrate -- --dry-run) reports what it would do per stored version and writes nothing", async () => {
    const run = await migrate(["--namespace", "notes", "--dry-run"], { npm: true });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /dry run: nothing was written/);
    assert.match(run.stdout, /^stored version\s+found\s+would upgrade\s+failed\s+skipped$/m);
    assert.match(run.stdout, new RegExp(`^v1\\s+${TOTAL}\\s+${TOTAL}\\s+0\\s+0$`, "m"));
    assert.match(
      run.stderr,
      new RegExp(`${TOTAL}/${TOTAL} records \\(100%\\)`),
      "plain progress lines when stderr is not a terminal",
    );
    assert.deepEqual(await versions(), { s1v1: TOTAL });
    assert.equal((await sql.query(`SELECT count(*)::int AS n FROM state_history WHERE version > 1`)).rows[0].n, 0);
    assert.equal((await sql.query(`SELECT count(*)::int AS n FROM outbox_events`)).rows[0].n, 0);
    assert.deepEqual(await progressFiles(), [], "a dry run saves no progress");
  });

  let killedAt = 0;
  let upgradedBeforeKill = 0;

  it("a run killed with SIGKILL midway leaves upgraded records upgraded once and its progress saved", async () => {
    const run = await migrate(["--namespace", "notes", "--json", "--batch", "500"], {
      killWhen: (line, child) => {
        const m = /(\d+)\/(\d+) records/.exec(line);
        if (m && Number(m[1]) >= 3000 && killedAt === 0) {
          killedAt = Number(m[1]);
          child.kill("SIGKILL");
        }
      },
    });
    assert.equal(run.signal, "SIGKILL", `the run ended before it could be killed midway:\n${run.stderr}`);
    assert.ok(killedAt < TOTAL, "killed before the end");
    const counts = await versions();
    upgradedBeforeKill = counts.s3v2 ?? 0;
    assert.ok(
      upgradedBeforeKill >= killedAt,
      `at least the ${killedAt} records reported were upgraded (found ${upgradedBeforeKill})`,
    );
    assert.equal(
      upgradedBeforeKill + (counts.s1v1 ?? 0),
      TOTAL,
      `every record is either untouched or upgraded once: ${JSON.stringify(counts)}`,
    );
    assert.equal((await progressFiles()).length, 1, "progress saved under the data directory");
  });

  it("running it again continues where it stopped: all 10 000 at schema version 3, each upgraded exactly once", async () => {
    const run = await migrate(["--namespace", "notes", "--json"]);
    assert.equal(run.code, 0, run.stderr);
    const r = report(run);
    assert.ok(r.resumedTenants.includes("acme"), "resumed from the saved cursor");
    assert.ok(
      r.examined <= TOTAL - killedAt,
      `walked only what was left (${r.examined} records, ${killedAt} were done)`,
    );
    assert.equal(r.totals.upgraded, TOTAL - upgradedBeforeKill, "upgraded the rest, and only the rest");
    assert.equal(r.totals.failed, 0);
    // Versions tell: one write per record (version 2), one history entry and one outbox event each.
    assert.deepEqual(await versions(), { s3v2: TOTAL });
    const history = (
      await sql.query(
        `SELECT version, actor, schema_version, count(*)::int AS n FROM state_history WHERE namespace = 'notes' GROUP BY 1, 2, 3 ORDER BY 1`,
      )
    ).rows;
    assert.deepEqual(history, [
      { version: 1, actor: "old-deployment", schema_version: 1, n: TOTAL },
      { version: 2, actor: "state-migrate", schema_version: 3, n: TOTAL },
    ]);
    assert.equal(
      (await sql.query(`SELECT count(*)::int AS n FROM outbox_events WHERE namespace = 'notes'`)).rows[0].n,
      TOTAL,
    );
    const sample = (
      await sql.query(
        `SELECT tenant, key, value::text AS value, expires_at FROM state_records WHERE key IN ('n00007', 'n03999') ORDER BY tenant, key`,
      )
    ).rows;
    assert.deepEqual(
      sample.map((s) => [s.tenant, s.key, JSON.parse(s.value)]),
      [
        ["acme", "n00007", { body: "note number 7 of acme", words: 5 }],
        ["acme", "n03999", { body: "note number 3999 of acme", words: 5 }],
        ["globex", "n00007", { body: "note number 7 of globex", words: 5 }],
        ["globex", "n03999", { body: "note number 3999 of globex", words: 5 }],
      ],
    );
    const expiring = (
      await sql.query(
        `SELECT count(*)::int AS n FROM state_records WHERE namespace = 'notes' AND expires_at > now() + interval '23 hours'`,
      )
    ).rows[0].n;
    const expected = Object.values(TENANTS).reduce(
      (n, count) => n + Array.from({ length: count }, (_, i) => i).filter(EXPIRING).length,
      0,
    );
    assert.equal(expiring, expected, "records that had an expiry kept it");
    assert.equal(
      (
        await sql.query(
          `SELECT count(*)::int AS n FROM state_records WHERE namespace = 'notes' AND expires_at IS NOT NULL`,
        )
      ).rows[0].n,
      expected,
      "and none gained one",
    );
    assert.deepEqual(await progressFiles(), [], "a finished run removes its progress");
  });

  it("a second run finds nothing to do", async () => {
    const run = await migrate(["--namespace", "notes", "--json"]);
    assert.equal(run.code, 0, run.stderr);
    const r = report(run);
    assert.deepEqual(r.byVersion, { "3": { found: TOTAL, upgraded: 0, failed: 0, skipped: TOTAL } });
    assert.deepEqual(r.resumedTenants, []);
    assert.deepEqual(await versions(), { s3v2: TOTAL });
  });

  it("a record whose upgrader throws is reported with its key, left untouched, and the exit code says so", async () => {
    await sql.query(
      `INSERT INTO state_records (tenant, namespace, key, value, version, schema_version, created_at, updated_at, expires_at, size_bytes, deleted) VALUES
         ('acme', 'profiles', 'ada', '{"text":"Ada Lovelace"}', 1, 1, now(), now(), NULL, 23, false),
         ('acme', 'profiles', 'broken', '{"text":42}', 4, 1, now(), now(), NULL, 11, false),
         ('acme', 'profiles', 'current', '{"body":"already new","words":2}', 2, 3, now(), now(), NULL, 31, false),
         ('globex', 'profiles', 'grace', '{"text":"Grace Hopper"}', 1, 1, now(), now(), NULL, 23, false)`,
    );
    // --tenant: only that tenant's records.
    const globex = report(await migrate(["--namespace", "profiles", "--tenant", "globex", "--json"]));
    assert.deepEqual(globex.totals, { found: 1, upgraded: 1, failed: 0, skipped: 0 });
    assert.equal(
      (await sql.query(`SELECT schema_version FROM state_records WHERE namespace = 'profiles' AND key = 'ada'`)).rows[0]
        .schema_version,
      1,
      "other tenants untouched",
    );

    const run = await migrate(["--namespace", "profiles"]);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /^v1\s+2\s+1\s+1\s+0$/m);
    assert.match(run.stdout, /^v3\s+2\s+0\s+0\s+2$/m);
    assert.match(run.stdout, /tenant acme key "broken" \(v1\): upgrader 1→2 failed: TypeError: text is not a string/);
    const rows = (
      await sql.query(
        `SELECT key, value::text AS value, version, schema_version FROM state_records WHERE namespace = 'profiles' ORDER BY key`,
      )
    ).rows;
    assert.deepEqual(
      rows.map((r) => [r.key, JSON.parse(r.value), r.version, r.schema_version]),
      [
        ["ada", { body: "Ada Lovelace", words: 2 }, 2, 3],
        ["broken", { text: 42 }, 4, 1],
        ["current", { body: "already new", words: 2 }, 2, 3],
        ["grace", { body: "Grace Hopper", words: 2 }, 2, 3],
      ],
    );
    assert.equal(
      (await sql.query(`SELECT count(*)::int AS n FROM state_history WHERE namespace = 'profiles' AND key = 'broken'`))
        .rows[0].n,
      0,
      "nothing written for it",
    );
  });

  it("on a terminal, progress is a bar redrawn in place", async () => {
    // util-linux `script` gives the command a pseudo-terminal, as an operator's shell would.
    const command = [
      process.execPath,
      "--import",
      "tsx",
      "server/lifecycle/state-migrate-cli.ts",
      "--namespace",
      "profiles",
      "--tenant",
      "globex",
      "--dry-run",
    ].join(" ");
    const child = spawn("script", ["-qec", command, "/dev/null"], {
      cwd: ROOT,
      env: env as NodeJS.ProcessEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
    const code = await new Promise((resolve) => child.once("close", resolve));
    assert.equal(code, 0, out);
    assert.ok(
      out.includes(`\r\x1b[2Kprofiles → schema v3 (dry run) [${"#".repeat(30)}] 1/1 records (100%)`),
      out.slice(-400),
    );
    assert.doesNotMatch(out, /^state:migrate profiles → schema v3/m, "no plain progress lines on a terminal");
  });

  it("refuses bad arguments with exit code 2 and changes nothing", async () => {
    const unknown = await migrate(["--namespace", "nope"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no namespace named "nope"/);
    const ephemeral = await migrate(["--namespace", "ratelimits"]);
    assert.equal(ephemeral.code, 2);
    assert.match(ephemeral.stderr, /hot tier only/);
    const batch = await migrate(["--namespace", "notes", "--batch", "0"]);
    assert.equal(batch.code, 2);
    assert.match(batch.stderr, /--batch must be an integer from 1 to 1000/);
  });
  it("records another writer changes mid-run: the chunk is redone record by record, re-read and upgraded, or skipped when already current", async () => {
    await seedNotes("initech", 120);
    const config = loadConfig({ ...env, STATEHOUSE_OUTBOX_RELAY: "off" });
    const clients = await openClients(config);
    const services = await buildServices(config, clients);
    try {
      const repository = new StateMigrateRepository(clients.db.prisma);
      const ref = (key: string) => ({ tenant: "initech", namespace: "notes", key });
      let interfered = false;
      // The real database, with two real writes slipped in between the migration's read of a batch and its writes.
      const warm: typeof repository = Object.assign(Object.create(repository) as typeof repository, {
        scan: async (...args: Parameters<typeof repository.scan>) => {
          const rows = await repository.scan(...args);
          if (!interfered && rows.length > 0) {
            interfered = true;
            await services.store.put(
              ref("n00010"),
              { text: "edited by an old instance" },
              { schemaVersion: 1, ifVersion: 1 },
            );
            await services.store.put(
              ref("n00060"),
              { body: "written by a new instance", words: 5 },
              { schemaVersion: 3, ifVersion: 1 },
            );
          }
          return rows;
        },
      });
      const migration = new StateMigration({
        state: services.state,
        warm,
        progressFile: () => path.join(dataDir, "concurrent.json"),
      });
      const r = await migration.run({ namespace: "notes", tenant: "initech", batchSize: 500, dryRun: false });
      assert.ok(interfered);
      assert.deepEqual(r.totals, { found: 120, upgraded: 119, failed: 0, skipped: 1 });
      const rows = (
        await sql.query(
          `SELECT key, value::text AS value, version, schema_version FROM state_records WHERE tenant = 'initech' AND key IN ('n00009', 'n00010', 'n00060') ORDER BY key`,
        )
      ).rows;
      assert.deepEqual(
        rows.map((x) => [x.key, JSON.parse(x.value), x.version, x.schema_version]),
        [
          ["n00009", { body: "note number 9 of initech", words: 5 }, 2, 3],
          ["n00010", { body: "edited by an old instance", words: 5 }, 3, 3],
          ["n00060", { body: "written by a new instance", words: 5 }, 2, 3],
        ],
      );
      const counts = (
        await sql.query(
          `SELECT schema_version, count(*)::int AS n FROM state_records WHERE tenant = 'initech' GROUP BY 1`,
        )
      ).rows;
      assert.deepEqual(counts, [{ schema_version: 3, n: 120 }]);
    } finally {
      await services.close();
    }
  });
});
