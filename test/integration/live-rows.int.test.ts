// One definition of a live row (server/db/state-records.ts): a record moved to the archive leaves a slim
// `archived` row in warm, and no query that means "the tenant's records" counts or lists it. Two once
// did: the storage quota's stored bytes and the capacity monitor's active sessions.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { openWarmDatabase, type WarmDatabase } from "../../server/db/warm-database";
import { StateMigrateRepository } from "../../server/lifecycle/state-migrate-repository";
import { SweepRepository } from "../../server/lifecycle/sweep-repository";
import { PolicyRepository } from "../../server/policies/policy-repository";
import { PostgresStore } from "../../server/state/postgres";
import { CapacityRepository } from "../../server/telemetry/capacity-repository";
import { RunRepository } from "../../server/workflows/run-repository";
import { createTestDatabase, type TestDatabase } from "../helpers/services";

describe("archived rows are not live anywhere", () => {
  let db: TestDatabase;
  let warmDb: WarmDatabase;
  let warm: PostgresStore;
  const tenant = "archivist";

  before(async () => {
    db = await createTestDatabase();
    warmDb = await openWarmDatabase({ url: db.url });
    warm = PostgresStore.on(warmDb);
  });
  after(async () => {
    await warm?.close();
    await db?.drop();
  });

  it("stored bytes, active sessions, run scans, migration scans and archive candidates skip a record moved to the archive", async () => {
    const policies = new PolicyRepository(warmDb.prisma);
    const capacity = new CapacityRepository(warmDb.prisma);
    const runs = new RunRepository(warmDb.prisma);
    const migrate = new StateMigrateRepository(warmDb.prisma);
    const sweep = new SweepRepository(warmDb.prisma);
    const session = { tenant, namespace: "sessions", key: "s-1" };
    const kept = await warm.put({ tenant, namespace: "sessions", key: "s-2" }, { agent: "support", turns: [] });
    const moving = await warm.put(session, { agent: "support", turns: ["a long conversation"] });
    const run = await warm.put({ tenant, namespace: "workflows", key: "r-1" }, { status: "succeeded" });

    const sessionsOf = async () => (await capacity.activeSessions()).find((s) => s.agent === "support")?.active;
    const before = await policies.storedBytes(tenant, []);
    assert.equal(before.total, kept.sizeBytes + moving.sizeBytes + run.sizeBytes);
    assert.equal(await sessionsOf(), 2);
    assert.equal((await runs.findAcrossTenants("workflows", { tenant })).length, 1);
    assert.deepEqual(await migrate.tenants("sessions", tenant), [{ tenant, records: 2 }]);
    assert.equal((await sweep.archiveCandidates("workflows", new Date(Date.now() + 1000), 10)).length, 1);

    // What the tiered store does once the archive holds a copy: the warm row is emptied and marked archived.
    assert.equal(await warm.dropArchived(session, moving.version), true);
    assert.equal(await warm.dropArchived({ tenant, namespace: "workflows", key: "r-1" }, run.version), true);

    const after = await policies.storedBytes(tenant, ["sessions\u0001s-1"]);
    assert.deepEqual(after, { total: kept.sizeBytes, replaced: 0 }, "archived bytes are not stored in warm");
    assert.equal(await sessionsOf(), 1, "an archived session is not active");
    assert.deepEqual(await runs.findAcrossTenants("workflows", { tenant }), []);
    assert.deepEqual(await migrate.tenants("sessions", tenant), [{ tenant, records: 1 }]);
    assert.deepEqual(await sweep.archiveCandidates("workflows", new Date(Date.now() + 1000), 10), []);
    assert.deepEqual(await sweep.expiredCandidates(10, ["sessions", "workflows"]), []);
  });

  it("the archived flag alone takes a row out, whatever the row still holds", async () => {
    // dropArchived empties the row too, which hid the two queries that forgot `NOT archived`; the flag
    // is what the definition says, so a flagged row that still has its value and size is not counted.
    const policies = new PolicyRepository(warmDb.prisma);
    const capacity = new CapacityRepository(warmDb.prisma);
    const other = "flagged";
    const a = await warm.put({ tenant: other, namespace: "sessions", key: "a" }, { agent: "support", turns: [] });
    const b = await warm.put({ tenant: other, namespace: "sessions", key: "b" }, { agent: "support", turns: [1] });
    const activeOf = async () => (await capacity.activeSessions()).find((s) => s.agent === "support")?.active ?? 0;
    const activeBefore = await activeOf();
    assert.equal((await policies.storedBytes(other, [])).total, a.sizeBytes + b.sizeBytes);
    await warmDb.prisma.$executeRawUnsafe(
      "UPDATE state_records SET archived = true WHERE tenant = $1 AND namespace = 'sessions' AND key = 'b'",
      other,
    );
    assert.deepEqual(await policies.storedBytes(other, ["sessions\u0001b"]), { total: a.sizeBytes, replaced: 0 });
    assert.equal(await activeOf(), activeBefore - 1);
  });
});
