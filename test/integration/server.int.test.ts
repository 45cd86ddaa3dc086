import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { loadConfig } from "../../server/config";
import { buildServices } from "../../server/container";
import { createTestDatabase, createTestRedis } from "../helpers/services";
import { startServer } from "../helpers/server";

describe("the Statehouse process", () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it("starts with no configuration on the embedded defaults and reports them in /api/ready", {
    timeout: 120_000,
  }, async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "sh-embedded-"));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const server = await startServer({ STATEHOUSE_DATA_DIR: dataDir });
    cleanups.push(() => server.stop());

    const health = await fetch(`${server.url}/api/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: "ok" });

    const ready = await fetch(`${server.url}/api/ready`);
    assert.equal(ready.status, 200);
    assert.equal(ready.headers.get("cache-control"), "no-store");
    const body = await ready.json();
    assert.equal(body.ready, true);
    assert.deepEqual(
      body.stores.map((s: { tier: string; backend: string; status: string; circuit: string }) => [
        s.tier,
        s.backend,
        s.status,
        s.circuit,
      ]),
      [
        ["hot", "memory", "up", "closed"],
        ["warm", "pglite", "up", "closed"],
        ["cold", "filesystem", "up", "closed"],
      ],
    );

    const page = await fetch(`${server.url}/`);
    assert.equal(page.status, 200, "pages are served by Next.js in the same process");
    assert.match(await page.text(), /Statehouse/);
    await server.stop();
  });

  it("names redis and postgres when REDIS_URL and DATABASE_URL are set, and says 503 when PostgreSQL is unreachable", {
    timeout: 120_000,
  }, async () => {
    const db = await createTestDatabase();
    const redis = createTestRedis();
    cleanups.push(
      () => db.drop(),
      () => redis.cleanup(),
    );
    const server = await startServer({
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      STATEHOUSE_KEY_PREFIX: redis.prefix.slice(0, 32),
    });
    cleanups.push(() => server.stop());
    const body = await (await fetch(`${server.url}/api/ready`)).json();
    assert.deepEqual(
      body.stores.map((s: { backend: string }) => s.backend),
      ["redis", "postgres", "filesystem"],
    );
    assert.equal(body.status, "ready");
    assert.doesNotMatch(JSON.stringify(body), /postgres(ql)?:\/\/|redis:\/\//, "no connection strings in the body");
    await server.stop();
  });

  it("keeps one bootstrap admin key file per backend: moving to DATABASE_URL never overwrites the embedded store's key", {
    timeout: 180_000,
  }, async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "sh-adminkey-"));
    const db = await createTestDatabase();
    cleanups.push(
      () => rm(dataDir, { recursive: true, force: true }),
      () => db.drop(),
    );
    const keyWorks = async (url: string, key: string) =>
      (await fetch(`${url}/api/v1/admin/keys`, { headers: { authorization: `Bearer ${key}` } })).status;

    let server = await startServer({ STATEHOUSE_DATA_DIR: dataDir });
    const embeddedKey = (await readFile(path.join(dataDir, "admin-key"), "utf8")).trim();
    assert.equal(await keyWorks(server.url, embeddedKey), 200);
    await server.stop();

    server = await startServer({ STATEHOUSE_DATA_DIR: dataDir, DATABASE_URL: db.url });
    const files = (await readdir(dataDir)).filter((f) => f.startsWith("admin-key"));
    assert.equal(files.length, 2, `one key file per backend: ${files.join(", ")}`);
    const postgresFile = files.find((f) => f !== "admin-key")!;
    assert.match(postgresFile, /^admin-key-[0-9a-f]{12}$/);
    const postgresKey = (await readFile(path.join(dataDir, postgresFile), "utf8")).trim();
    assert.notEqual(postgresKey, embeddedKey);
    assert.equal(await keyWorks(server.url, postgresKey), 200);
    assert.equal(await keyWorks(server.url, embeddedKey), 401, "the embedded store's key does not open PostgreSQL");
    await server.stop();

    // Back on the embedded store: its file still holds the key that opens it.
    assert.equal((await readFile(path.join(dataDir, "admin-key"), "utf8")).trim(), embeddedKey);
    server = await startServer({ STATEHOUSE_DATA_DIR: dataDir });
    assert.equal(await keyWorks(server.url, embeddedKey), 200);
    await server.stop();
  });

  it("refuses bad configuration with a message that names the variable", { timeout: 60_000 }, async () => {
    await assert.rejects(
      startServer({ PORT: "not-a-port" }, { timeoutMs: 20_000 }),
      (err: Error) => /PORT/.test(err.message) && /exited with 2/.test(err.message),
    );
  });

  for (const mode of ["embedded", "services"] as const) {
    it(`keeps state across a restart (${mode})`, { timeout: 120_000 }, async () => {
      const dataDir = await mkdtemp(path.join(tmpdir(), "sh-restart-"));
      const env: Record<string, string> = { STATEHOUSE_DATA_DIR: dataDir };
      if (mode === "services") {
        const db = await createTestDatabase();
        const redis = createTestRedis();
        cleanups.push(
          () => db.drop(),
          () => redis.cleanup(),
        );
        Object.assign(env, {
          DATABASE_URL: db.url,
          REDIS_URL: redis.url,
          STATEHOUSE_KEY_PREFIX: redis.prefix.slice(0, 32),
        });
      }
      cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
      const ref = { tenant: "default", namespace: "kv", key: "survives" };
      const first = await buildServices(loadConfig(env));
      const written = await first.store.put(ref, { remembered: true });
      await first.store.put(ref, { remembered: "twice" }, { ifVersion: written.version });
      await first.close();
      const second = await buildServices(loadConfig(env));
      try {
        const got = await second.store.get(ref, { consistency: "strong" });
        assert.deepEqual(got?.value, { remembered: "twice" });
        assert.equal(got?.version, 2);
        assert.equal((await second.store.history(ref)).length, 2);
      } finally {
        await second.close();
      }
    });
  }
});
