// Schema versions, migrated on read: a deployment declares its namespaces (STATEHOUSE_NAMESPACES), writes
// records at schema version 1, then deploys version 3 with two upgraders. A real server process over the
// machine's PostgreSQL and Redis.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { loadDeclaredNamespaces } from "../../server/lifecycle/declared-namespaces";
import { upgradeOnRead } from "../../server/state/schema-upgrade";
import { NamespaceRegistry } from "../../server/state/namespaces";
import { PostgresStore } from "../../server/state/postgres";
import { type ApiFixture, json, startApi } from "../helpers/api";

const FIXTURES = path.resolve(import.meta.dirname, "../fixtures");
const V1 = path.join(FIXTURES, "namespaces-v1.ts");
const V3 = path.join(FIXTURES, "namespaces-v3.ts");

describe("schema versions upgraded on read", () => {
  let api: ApiFixture;
  let key: string;
  let sql: pg.Client;
  const call = (p: string, init: RequestInit = {}) => api.call(p, { ...init, key });
  const row = async (ns: string, k: string) =>
    (
      await sql.query(
        `SELECT value::text AS value, version, schema_version, expires_at FROM state_records WHERE tenant = 'acme' AND namespace = $1 AND key = $2`,
        [ns, k],
      )
    ).rows.map((r) => ({ ...r, value: JSON.parse(r.value) }))[0];
  /** statehouse_lifecycle_events_total for one namespace and event, as /metrics shows it. */
  const lifecycleCount = async (namespace: string, event: string) => {
    const text = await (await api.call("/metrics")).text();
    const line = text
      .split("\n")
      .find(
        (l) =>
          l.startsWith("statehouse_lifecycle_events_total{") &&
          l.includes(`event="${event}"`) &&
          l.includes(`namespace="${namespace}"`),
      );
    return line ? Number(line.split(" ").at(-1)) : 0;
  };
  let profileExpiry: Date;

  before(async () => {
    // The old deployment: notes and profiles at schema version 1.
    api = await startApi({ STATEHOUSE_NAMESPACES: V1 });
    key = (await api.clientFor("acme")).key;
    const written: Record<string, unknown> = {
      "notes/hello": { text: "hello brave new world" },
      "notes/patched": { text: "to be patched" },
      "notes/broken": { text: 42 },
      "profiles/ada": { text: "Ada Lovelace" },
    };
    for (const [p, value] of Object.entries(written)) {
      const res = await call(
        `/api/v1/state/${p}`,
        json({ value, ...(p === "profiles/ada" ? { ttlSeconds: 3600 } : {}) }),
      );
      const text = await res.text();
      assert.equal(res.status, 201, text);
      assert.equal((JSON.parse(text) as { schemaVersion: number }).schemaVersion, 1);
    }
    sql = new pg.Client({ connectionString: api.db.url });
    await sql.connect();
    profileExpiry = (await row("profiles", "ada")).expires_at;
    // The deploy: same database and Redis (hot copies of the v1 records included), namespaces at version 3.
    await api.restart({ STATEHOUSE_NAMESPACES: V3 });
  });

  after(async () => {
    await sql?.end();
    await api?.close();
  });

  it("declared namespaces are served with their policies", async () => {
    const body = (await (await call("/api/v1/namespaces")).json()) as {
      namespaces: { name: string; schemaVersion: number; writeBackUpgrades?: boolean }[];
    };
    const byName = new Map(body.namespaces.map((n) => [n.name, n]));
    assert.equal(byName.get("notes")?.schemaVersion, 3);
    assert.equal(byName.get("profiles")?.writeBackUpgrades, true);
    assert.ok(byName.has("kv"), "built-ins are still there");
  });

  it("an old record reads as version 3, upgraded step by step, from the hot tier and from the source of truth; nothing is written", async () => {
    const before = await lifecycleCount("notes", "schema_upgraded");
    for (const query of ["", "?consistency=strong"]) {
      const res = await call(`/api/v1/state/notes/hello${query}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("statehouse-tier"), query ? "warm" : "hot", "the v1 copy in Redis is upgraded too");
      assert.equal(res.headers.get("etag"), '"1"', "same version: the upgrade was not written");
      const body = (await res.json()) as { value: unknown; schemaVersion: number; sizeBytes: number };
      assert.deepEqual(body.value, { body: "hello brave new world", words: 4 });
      assert.equal(body.schemaVersion, 3);
      assert.equal(body.sizeBytes, Buffer.byteLength(JSON.stringify(body.value)));
    }
    assert.deepEqual(await row("notes", "hello"), {
      value: { text: "hello brave new world" },
      version: 1,
      schema_version: 1,
      expires_at: null,
    });
    assert.equal(
      await lifecycleCount("notes", "schema_upgraded"),
      before + 2,
      "each upgraded read is a lifecycle event",
    );
  });

  it("history and past versions show values as they were stored", async () => {
    const history = (await (await call("/api/v1/state/notes/hello/history")).json()) as {
      versions: { version: number; schemaVersion: number }[];
    };
    assert.deepEqual(
      history.versions.map((v) => [v.version, v.schemaVersion]),
      [[1, 1]],
    );
    const v1 = (await (await call("/api/v1/state/notes/hello/versions/1")).json()) as {
      value: unknown;
      schemaVersion: number;
    };
    assert.deepEqual([v1.value, v1.schemaVersion], [{ text: "hello brave new world" }, 1]);
  });

  it("with writeBackUpgrades the read writes the upgrade back (compare-and-set), keeping the expiry, and history shows it", async () => {
    const first = await call("/api/v1/state/profiles/ada");
    assert.equal(first.status, 200);
    assert.equal(first.headers.get("etag"), '"2"', "the answer carries the written version");
    assert.deepEqual(((await first.json()) as { value: unknown }).value, { body: "Ada Lovelace", words: 2 });
    const stored = await row("profiles", "ada");
    assert.deepEqual([stored.value, stored.version, stored.schema_version], [{ body: "Ada Lovelace", words: 2 }, 2, 3]);
    assert.ok(Math.abs(stored.expires_at.getTime() - profileExpiry.getTime()) < 2000, "the record's expiry is kept");
    const again = await call("/api/v1/state/profiles/ada");
    assert.equal(again.headers.get("etag"), '"2"', "a current record is not written again");
    const history = (await (await call("/api/v1/state/profiles/ada/history")).json()) as {
      versions: { version: number; actor: string | null; schemaVersion: number; patch: unknown[] }[];
    };
    assert.deepEqual(
      history.versions.map((v) => [v.version, v.actor, v.schemaVersion]),
      [
        [2, "schema-upgrade", 3],
        [1, history.versions[1]!.actor, 1],
      ],
    );
    assert.deepEqual(history.versions[0]!.patch, [
      { op: "remove", path: "/text" },
      { op: "add", path: "/body", value: "Ada Lovelace" },
      { op: "add", path: "/words", value: 2 },
    ]);
  });

  it("a write-back that loses a race to another writer is dropped; the read still answers", async () => {
    // A reader that saw version 2 at schema 1, while someone else has written version 3 meanwhile.
    const warm = await PostgresStore.open({ url: api.db.url });
    try {
      const ref = { tenant: "acme", namespace: "profiles", key: "race" };
      const old = await warm.put(ref, { text: "old value" }, { schemaVersion: 1 });
      await warm.put(ref, { body: "newer", words: 1 }, { schemaVersion: 3, ifVersion: old.version });
      const registry = new NamespaceRegistry(await loadDeclaredNamespaces(V3));
      const events: string[] = [];
      const served = await upgradeOnRead(warm, registry.getOrThrow("profiles"), ref, old, (e) => events.push(e));
      assert.deepEqual([served.value, served.version, served.schemaVersion], [{ body: "old value", words: 2 }, 1, 3]);
      assert.deepEqual(events, ["schema_upgraded"]);
      const now = await warm.get(ref);
      assert.deepEqual([now?.value, now?.version], [{ body: "newer", words: 1 }, 2], "the other writer's value stands");
    } finally {
      await warm.close();
    }
  });

  it("a patch applies to the upgraded value and is written at the current schema version", async () => {
    const res = await call("/api/v1/state/notes/patched", {
      method: "PATCH",
      headers: { "content-type": "application/merge-patch+json" },
      body: JSON.stringify({ pinned: true }),
    });
    assert.equal(res.status, 200, await res.text());
    const stored = await row("notes", "patched");
    assert.deepEqual(
      [stored.value, stored.version, stored.schema_version],
      [{ body: "to be patched", words: 3, pinned: true }, 2, 3],
    );
  });

  it("an upgrader that throws: 409 upgrade_failed problem, counted, nothing written; overwriting the record resolves it", async () => {
    const failedBefore = await lifecycleCount("notes", "upgrade_failed");
    const res = await call("/api/v1/state/notes/broken");
    assert.equal(res.status, 409);
    assert.equal(res.headers.get("content-type"), "application/problem+json");
    const problem = (await res.json()) as Record<string, unknown>;
    assert.equal(problem.code, "upgrade_failed");
    assert.deepEqual([problem.schemaVersion, problem.targetSchemaVersion], [1, 3]);
    assert.doesNotMatch(
      JSON.stringify(problem),
      /text is not a string|TypeError/,
      "the upgrader's own error stays out of the body",
    );
    const patch = await call("/api/v1/state/notes/broken", {
      method: "PATCH",
      headers: { "content-type": "application/merge-patch+json" },
      body: JSON.stringify({ x: 1 }),
    });
    assert.equal(patch.status, 409);
    assert.equal(((await patch.json()) as { code: string }).code, "upgrade_failed");
    assert.deepEqual(
      await row("notes", "broken"),
      { value: { text: 42 }, version: 1, schema_version: 1, expires_at: null },
      "nothing written",
    );
    assert.equal(await lifecycleCount("notes", "upgrade_failed"), failedBefore + 2);
    const put = await call("/api/v1/state/notes/broken", json({ value: { body: "fixed", words: 1 } }));
    assert.equal(put.status, 200);
    const read = await call("/api/v1/state/notes/broken");
    assert.equal(read.status, 200);
    assert.equal(((await read.json()) as { schemaVersion: number }).schemaVersion, 3);
  });
});
