// Tenant admin vs platform admin on the real server: an `admin` key acts within its own tenant only
// (404 for anything of another tenant, never 403, so it never learns another tenant exists; 403 for what
// belongs to the platform: granting platform:admin, raising its own limits, deployment-wide pages);
// `platform:admin` (the fixture's STATEHOUSE_ADMIN_TOKEN) acts on every tenant. Rate limits: every key of
// a tenant shares the tenant's bucket, and the RateLimit headers agree.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ApiFixture, startApi, rateLimitEnv } from "../helpers/api";

type Problem = { status: number; code: string; detail: string; [k: string]: unknown };
type Key = { id: string; tenant: string; scopes: string[]; revokedAt: string | null };

async function problem(res: Response, status: number, code: string): Promise<Problem> {
  const text = await res.text();
  assert.equal(res.status, status, `${status} ${code} expected: ${text}`);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  const body = JSON.parse(text) as Problem;
  assert.equal(body.code, code);
  assert.equal(body.status, status);
  return body;
}

describe("tenant admin and platform admin", () => {
  let api: ApiFixture;
  let tenantAdmin: string; // admin of acme
  let acmeWriter: string;
  let globexWriter: { key: string; id: string };
  let globexRun: string;
  let acmeRun: string;
  const json = (method: string, body: unknown): RequestInit => ({
    method,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const as = (key: string, path: string, init: RequestInit = {}) => api.call(path, { ...init, key });
  const keysOf = async (tenant: string) =>
    ((await (await as(api.adminToken, `/api/v1/admin/keys?tenant=${tenant}`)).json()) as { keys: Key[] }).keys;

  before(async () => {
    api = await startApi();
    ({ key: tenantAdmin } = await api.clientFor("acme", ["admin"]));
    ({ key: acmeWriter } = await api.clientFor("acme"));
    globexWriter = await api.clientFor("globex");
    for (const [key, path, value] of [
      [acmeWriter, "kv/mine", { of: "acme" }],
      [globexWriter.key, "kv/secret", { of: "globex" }],
    ] as const) {
      assert.equal((await as(key, `/api/v1/state/${path}`, json("PUT", { value }))).status, 201);
    }
    const start = async (key: string) =>
      (
        (await (await as(key, "/api/v1/workflows", json("POST", { type: "plan", input: { steps: 1 } }))).json()) as {
          runId: string;
        }
      ).runId;
    globexRun = await start(globexWriter.key);
    acmeRun = await start(acmeWriter);
  });
  after(async () => {
    await api?.close();
  });

  it("a tenant admin gets 404 for another tenant's state, policy, residency and runs; its own answer", async () => {
    for (const path of [
      "/api/v1/admin/state/globex/kv",
      "/api/v1/admin/state/globex/kv/secret",
      "/api/v1/admin/state/globex/kv/secret/history",
      "/api/v1/admin/state/nobody/kv/secret",
      "/api/v1/admin/tenants/globex/policy",
      "/api/v1/admin/residency?tenant=globex",
      "/api/v1/admin/residency/globex/kv/secret",
      `/api/v1/admin/workflows/globex/${globexRun}`,
      "/api/v1/admin/keys?tenant=globex",
    ]) {
      const body = await problem(await as(tenantAdmin, path), 404, "not_found");
      assert.ok(!JSON.stringify(body).includes('"of":"globex"'), path);
    }
    // The same answer for a tenant that exists and one that does not: nothing to learn.
    const [known, unknown] = [
      await as(tenantAdmin, "/api/v1/admin/state/globex/kv"),
      await as(tenantAdmin, "/api/v1/admin/state/no-such-tenant/kv"),
    ];
    assert.equal(
      ((await known.json()) as Problem).detail.replace("globex", "X"),
      ((await unknown.json()) as Problem).detail.replace("no-such-tenant", "X"),
    );

    const own = await as(tenantAdmin, "/api/v1/admin/state/acme/kv/mine");
    assert.equal(own.status, 200);
    assert.deepEqual(((await own.json()) as { value: unknown }).value, { of: "acme" });
    assert.equal((await as(tenantAdmin, "/api/v1/admin/tenants/acme/policy")).status, 200);
    assert.equal((await as(tenantAdmin, `/api/v1/admin/workflows/acme/${acmeRun}`)).status, 200);
    assert.equal(
      (await as(tenantAdmin, "/api/v1/state/kv/mine")).status,
      200,
      "admin implies state:read in its tenant",
    );
  });

  it("lists across tenants show a tenant admin its own tenant only", async () => {
    const tenants = (await (await as(tenantAdmin, "/api/v1/admin/tenants")).json()) as { tenants: string[] };
    assert.deepEqual(tenants.tenants, ["acme"]);
    const keys = ((await (await as(tenantAdmin, "/api/v1/admin/keys")).json()) as { keys: Key[] }).keys;
    assert.ok(keys.length >= 2 && keys.every((k) => k.tenant === "acme"), JSON.stringify(keys));
    const quotas = (await (await as(tenantAdmin, "/api/v1/admin/quotas")).json()) as { tenants: { tenant: string }[] };
    assert.deepEqual(
      quotas.tenants.map((t) => t.tenant),
      ["acme"],
    );
    const residency = (await (await as(tenantAdmin, "/api/v1/admin/residency")).json()) as {
      storedIn: { tenant: string }[];
      audit: { tenant: string }[];
    };
    assert.ok(
      residency.storedIn.length > 0 && residency.storedIn.every((s) => s.tenant === "acme"),
      JSON.stringify(residency.storedIn),
    );
    const runs = (
      (await (await as(tenantAdmin, "/api/v1/admin/workflows")).json()) as { runs: { tenant: string; runId: string }[] }
    ).runs;
    assert.deepEqual(
      runs.map((r) => [r.tenant, r.runId]),
      [["acme", acmeRun]],
    );

    // Fresh changes of both tenants, so both are among the newest events.
    assert.equal((await as(acmeWriter, "/api/v1/state/kv/fresh", json("PUT", { value: 1 }))).status, 201);
    assert.equal((await as(globexWriter.key, "/api/v1/state/kv/fresh", json("PUT", { value: 1 }))).status, 201);
    const outbox = (await (await as(tenantAdmin, "/api/v1/admin/outbox")).json()) as {
      events: { tenant: string; key: string }[];
      pending: number;
    };
    assert.ok(
      outbox.events.some((e) => e.key === "fresh"),
      "its own events are there",
    );
    assert.ok(
      outbox.events.every((e) => e.tenant === "acme"),
      `only acme's events: ${JSON.stringify(outbox.events.map((e) => e.tenant))}`,
    );
    const all = (await (await as(api.adminToken, "/api/v1/admin/outbox")).json()) as { events: { tenant: string }[] };
    assert.ok(
      all.events.some((e) => e.tenant === "globex") && all.events.some((e) => e.tenant === "acme"),
      "the platform admin sees every tenant's events",
    );
  });

  it("a tenant admin cannot mint a key for another tenant (404) or with platform:admin (403); nothing is created", async () => {
    const [acmeBefore, globexBefore] = [await keysOf("acme"), await keysOf("globex")];
    await problem(
      await as(tenantAdmin, "/api/v1/admin/keys", json("POST", { tenant: "globex", scopes: ["state:read"] })),
      404,
      "not_found",
    );
    await problem(
      await as(tenantAdmin, "/api/v1/admin/keys", json("POST", { tenant: "brand-new", scopes: ["admin"] })),
      404,
      "not_found",
    );
    const refused = await problem(
      await as(
        tenantAdmin,
        "/api/v1/admin/keys",
        json("POST", { tenant: "acme", scopes: ["state:read", "platform:admin"] }),
      ),
      403,
      "forbidden",
    );
    assert.equal(refused.requiredScope, "platform:admin");
    await problem(
      await as(tenantAdmin, "/api/v1/admin/keys", json("POST", { scopes: ["platform:admin"] })),
      403,
      "forbidden",
    );
    assert.equal((await keysOf("acme")).length, acmeBefore.length, "no acme key was created");
    assert.equal((await keysOf("globex")).length, globexBefore.length, "no globex key was created");
    assert.equal((await keysOf("brand-new")).length, 0);

    // Its own tenant (named or left out), with scopes it holds: allowed, including admin.
    const minted = await as(
      tenantAdmin,
      "/api/v1/admin/keys",
      json("POST", { scopes: ["state:read", "admin"], name: "ops" }),
    );
    assert.equal(minted.status, 201);
    const created = (await minted.json()) as Key & { key: string };
    assert.equal(created.tenant, "acme");
    // That key is a tenant admin too: it still cannot reach globex.
    await problem(await as(created.key, "/api/v1/admin/state/globex/kv/secret"), 404, "not_found");
  });

  it("a tenant admin revokes only its own tenant's keys, and never a platform admin's", async () => {
    await problem(
      await as(tenantAdmin, `/api/v1/admin/keys/${globexWriter.id}`, { method: "DELETE" }),
      404,
      "not_found",
    );
    assert.equal((await as(globexWriter.key, "/api/v1/state/kv/secret")).status, 200, "globex's key still works");
    assert.equal((await keysOf("globex")).find((k) => k.id === globexWriter.id)!.revokedAt, null);

    const platformKey = (await (
      await as(api.adminToken, "/api/v1/admin/keys", json("POST", { tenant: "acme", scopes: ["platform:admin"] }))
    ).json()) as Key & { key: string };
    await problem(
      await as(tenantAdmin, `/api/v1/admin/keys/${platformKey.id}`, { method: "DELETE" }),
      403,
      "forbidden",
    );
    assert.equal(
      (await as(platformKey.key, "/api/v1/admin/state/globex/kv/secret")).status,
      200,
      "the platform key still works, across tenants",
    );

    const { id } = await api.clientFor("acme", ["state:read"]);
    assert.equal((await as(tenantAdmin, `/api/v1/admin/keys/${id}`, { method: "DELETE" })).status, 204);
  });

  it("a tenant admin reads but cannot raise its own quota or pin, nor see deployment-wide pages (403)", async () => {
    await problem(
      await as(tenantAdmin, "/api/v1/admin/tenants/acme/policy", json("PUT", { operationsPerDay: 1_000_000_000 })),
      403,
      "forbidden",
    );
    await problem(
      await as(tenantAdmin, "/api/v1/admin/tenants/acme/policy", json("PUT", { region: "elsewhere" })),
      403,
      "forbidden",
    );
    await problem(
      await as(tenantAdmin, "/api/v1/admin/tenants/globex/policy", json("PUT", { operationsPerDay: 0 })),
      403,
      "forbidden",
    );
    const policy = (await (await as(tenantAdmin, "/api/v1/admin/tenants/acme/policy")).json()) as {
      operations: { limit: number | null };
      region: string | null;
    };
    assert.deepEqual([policy.operations.limit, policy.region], [null, null], "nothing changed");
    assert.equal(
      (await as(globexWriter.key, "/api/v1/state/kv/secret", json("PUT", { value: 2 }))).status,
      200,
      "globex was not limited",
    );
    for (const path of ["/api/v1/admin/metrics", "/api/v1/admin/capacity", "/api/v1/admin/alerts"]) {
      const body = await problem(await as(tenantAdmin, path), 403, "forbidden");
      assert.equal(body.requiredScope, "platform:admin", path);
    }
  });

  it("the platform admin does all of it, for any tenant", async () => {
    const admin = api.adminToken;
    assert.equal((await as(admin, "/api/v1/admin/state/globex/kv/secret")).status, 200);
    const tenants = ((await (await as(admin, "/api/v1/admin/tenants")).json()) as { tenants: string[] }).tenants;
    assert.ok(tenants.includes("acme") && tenants.includes("globex"));
    const keys = ((await (await as(admin, "/api/v1/admin/keys")).json()) as { keys: Key[] }).keys;
    assert.ok(keys.some((k) => k.tenant === "acme") && keys.some((k) => k.tenant === "globex"));
    const quotas = (
      (await (await as(admin, "/api/v1/admin/quotas")).json()) as { tenants: { tenant: string }[] }
    ).tenants.map((t) => t.tenant);
    assert.ok(quotas.includes("acme") && quotas.includes("globex"));
    const runs = (
      (await (await as(admin, "/api/v1/admin/workflows")).json()) as { runs: { tenant: string }[] }
    ).runs.map((r) => r.tenant);
    assert.ok(runs.includes("acme") && runs.includes("globex"));
    assert.equal((await as(admin, `/api/v1/admin/workflows/globex/${globexRun}`)).status, 200);
    for (const path of [
      "/api/v1/admin/metrics",
      "/api/v1/admin/capacity",
      "/api/v1/admin/alerts",
      "/api/v1/admin/residency?tenant=globex",
    ])
      assert.equal((await as(admin, path)).status, 200, path);

    // Mint a platform admin for another tenant: it acts across tenants (the scope, not the tenant, decides).
    const minted = await as(
      admin,
      "/api/v1/admin/keys",
      json("POST", { tenant: "globex", scopes: ["platform:admin"] }),
    );
    assert.equal(minted.status, 201);
    const platformKey = (await minted.json()) as Key & { key: string };
    assert.equal((await as(platformKey.key, "/api/v1/admin/state/acme/kv/mine")).status, 200);
    assert.equal(
      (await as(platformKey.key, "/api/v1/state/kv/secret")).status,
      200,
      "platform:admin implies every scope",
    );

    const raised = await as(admin, "/api/v1/admin/tenants/acme/policy", json("PUT", { operationsPerDay: 1_000_000 }));
    assert.equal(raised.status, 200);
    assert.equal(((await raised.json()) as { operations: { limit: number } }).operations.limit, 1_000_000);
    assert.equal((await as(admin, `/api/v1/admin/keys/${globexWriter.id}`, { method: "DELETE" })).status, 204);
    assert.equal((await as(globexWriter.key, "/api/v1/state/kv/secret")).status, 401);
  });

  it("the dashboard takes a tenant admin's and a platform-only key's login, not a plain key's", async () => {
    const login = (key: string) => api.call("/api/admin/session", json("POST", { key }));
    assert.equal((await login(tenantAdmin)).status, 200);
    const { key: platformOnly } = await api.clientFor("default", ["platform:admin"]);
    assert.equal((await login(platformOnly)).status, 200);
    await problem(await login(acmeWriter), 403, "forbidden");
  });

  it("RateLimit-Remaining never exceeds RateLimit-Limit (the binding bucket's size)", async () => {
    for (let i = 0; i < 3; i++) {
      const res = await as(acmeWriter, "/api/v1/state/kv/mine");
      await res.body?.cancel();
      const [limit, remaining] = [
        Number(res.headers.get("ratelimit-limit")),
        Number(res.headers.get("ratelimit-remaining")),
      ];
      assert.equal(limit, 2000, "the default bucket size");
      assert.ok(remaining >= 0 && remaining < limit, `remaining ${remaining} ≤ limit ${limit}`);
    }
  });
});

describe("per-tenant rate limit", () => {
  let api: ApiFixture;
  before(async () => {
    // Keys may burst 100; the tenant's bucket holds 4 and refills one token every 10 s.
    api = await startApi(rateLimitEnv({ rps: 100, burst: 100 }, { rps: 0.1, burst: 4 }));
  });
  after(async () => {
    await api?.close();
  });

  it("two keys of one tenant share the tenant's bucket; another tenant is unaffected", async () => {
    const [a, b] = [await api.clientFor("rl-acme", ["state:read"]), await api.clientFor("rl-acme", ["state:read"])];
    const other = await api.clientFor("rl-globex", ["state:read"]);
    const seen: { status: number; limit: string | null; remaining: string | null }[] = [];
    let limited: Response | undefined;
    for (let i = 0; i < 8; i++) {
      const res = await api.call("/api/v1/state/kv/x", { key: (i % 2 ? a : b).key });
      seen.push({
        status: res.status,
        limit: res.headers.get("ratelimit-limit"),
        remaining: res.headers.get("ratelimit-remaining"),
      });
      if (res.status === 429 && !limited) limited = res;
      else await res.body?.cancel();
    }
    assert.deepEqual(
      seen.slice(0, 4).map((s) => [s.status, s.limit, s.remaining]),
      [
        [404, "4", "3"],
        [404, "4", "2"],
        [404, "4", "1"],
        [404, "4", "0"],
      ],
      JSON.stringify(seen),
    );
    assert.ok(
      seen.slice(4).every((s) => s.status === 429 && s.limit === "4" && s.remaining === "0"),
      JSON.stringify(seen),
    );
    const body = await problem(limited!, 429, "rate_limited");
    assert.equal(body.bucket, "tenant");
    assert.ok(Number(limited!.headers.get("retry-after")) >= 1);
    const res = await api.call("/api/v1/state/kv/x", { key: other.key });
    assert.equal(res.status, 404, "another tenant has its own bucket");
    assert.equal(res.headers.get("ratelimit-remaining"), "3");
  });
});
