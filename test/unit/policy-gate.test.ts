// A write passes one tenant-policy gate: within a request its region pin is checked (and a refusal
// audited) once, whether the route or the state engine asks first; writes outside a request are checked.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PolicyGate } from "../../server/policies/admission";
import { MemoryOperationCounter } from "../../server/policies/operation-counter";
import type { TenantPolicy } from "../../server/policies/policy-repository";
import type { Residency, WriteAttempt } from "../../server/policies/residency";
import { inRequestScope } from "../../server/state/request-scope";

function gate(policy: Partial<TenantPolicy> = {}) {
  const checks: WriteAttempt[] = [];
  const stored: string[][] = [];
  const residency: Pick<Residency, "check" | "noteWrite"> = {
    async check(p, attempt) {
      checks.push(attempt);
      if (p.region !== null && p.region !== "eu") {
        const err = Object.assign(new Error("pinned"), { code: "residency_violation" });
        throw err;
      }
    },
    noteWrite() {},
  };
  const g = new PolicyGate(
    {
      get: async (tenant) => ({
        tenant,
        operationsPerDay: 100,
        bytesStored: 1_000_000,
        region: null,
        updatedAt: null,
        ...policy,
      }),
    },
    residency,
    new MemoryOperationCounter(),
    {
      storedBytes: async (_tenant, refs) => {
        stored.push([...refs]);
        return { total: 0, replaced: 0 };
      },
    },
    {
      serverRegion: "eu",
      isDurable: () => true,
      guard: (fn) => fn(),
      guardHot: (fn) => fn(),
    },
  );
  return { g, checks, stored };
}

const put = { op: "put" as const, namespace: "kv", key: "k", value: { a: 1 } };

describe("the tenant-policy gate", () => {
  it("checks the pin once per request: the route admits, the engine's check of the same tenant does not repeat it", async () => {
    const { g, checks, stored } = gate();
    await inRequestScope(async () => {
      await g.admitCall("t1", { operations: 1, operation: "PUT /api/v1/state/{ns}/{key}" });
      await g.checkWrites("t1", [put]);
      await g.checkWrites("t1", [put]); // a patch's retry, an agent turn's second write
    });
    assert.equal(checks.length, 1);
    assert.equal(stored.length, 2, "the storage quota is still checked for each write");
  });

  it("checks the pin at the write when no route admitted the request (workers) and for another tenant", async () => {
    const { g, checks } = gate();
    await g.checkWrites("t1", [put]);
    await g.checkWrites("t1", [put]);
    assert.equal(checks.length, 2, "outside a request every write is checked");
    await inRequestScope(async () => {
      await g.admitCall("t1", { operations: 1, operation: "POST /x" });
      await g.checkWrites("t2", [put]);
    });
    assert.equal(checks.length, 4);
  });

  it("a refused pin is refused once and nothing else runs", async () => {
    const { g, checks, stored } = gate({ region: "us" });
    await inRequestScope(async () => {
      await assert.rejects(g.admitCall("t1", { operations: 1, operation: "PUT /x" }), { code: "residency_violation" });
    });
    assert.equal(checks.length, 1);
    assert.equal(stored.length, 0);
  });
});

describe("usage while counts are on their way to the hot tier", () => {
  it("counts a flush in flight: usage never dips between the local counts and the shared counter", async () => {
    const counter = new MemoryOperationCounter();
    let release: () => void = () => {};
    const slowAdd: typeof counter.add = async (counts) => {
      await new Promise<void>((r) => {
        release = r;
      });
      return counter.add(counts);
    };
    const g = new PolicyGate(
      {
        get: async (tenant) => ({
          tenant,
          operationsPerDay: null,
          bytesStored: null,
          region: null,
          updatedAt: null,
        }),
      },
      { async check() {}, noteWrite() {} },
      Object.assign(Object.create(counter), { add: slowAdd }),
      { storedBytes: async () => ({ total: 0, replaced: 0 }) },
      { serverRegion: "eu", isDurable: () => true, guard: (fn) => fn(), guardHot: (fn) => fn() },
    );
    for (let i = 0; i < 5; i++) await g.admitCall("t1", { operations: 1, operation: "PUT" });
    const flushed = g.flush();
    const usage = g.usage("t1");
    setTimeout(() => release(), 20);
    assert.equal((await usage).operations.used, 5);
    await flushed;
    assert.equal((await g.usage("t1")).operations.used, 5);
  });
});
