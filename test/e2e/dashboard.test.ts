// The admin dashboard in a real browser (Debian's Chromium through playwright-core) against a started
// server on the real PostgreSQL and Redis: login, charts drawn from live traffic, the numbers agreeing
// with /api/v1/admin/metrics, time travel through a session's history, keys, logout, refusals, axe.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { dashboardSuite } from "../helpers/e2e";

const PAGES = ["/admin", "/admin/namespaces", "/admin/state", "/admin/alerts", "/admin/outbox", "/admin/keys"];

describe("admin dashboard in Chromium", () => {
  const e2e = dashboardSuite({
    env: { STATEHOUSE_TIMESERIES_RESOLUTION_MS: "1000", STATEHOUSE_STATS_INTERVAL_MS: "1000" },
  });
  let key: string;
  let sessionId: string;

  before(async () => {
    ({ key } = await e2e.api.clientFor("acme"));
  });

  it("refuses every admin page and admin API without a session", async () => {
    for (const p of PAGES) {
      await e2e.open(p);
      assert.equal(
        new URL(e2e.page.url()).pathname,
        "/admin/login",
        `${p} sends an anonymous visitor to the login page`,
      );
    }
    for (const p of [
      "/api/v1/admin/metrics",
      "/api/v1/admin/keys",
      "/api/v1/admin/tenants",
      "/api/v1/admin/alerts",
      "/api/v1/admin/outbox",
      "/api/v1/admin/state/acme/kv",
      "/api/v1/admin/state/acme/kv/x",
      "/api/v1/admin/state/acme/kv/x/history",
      "/api/admin/session",
    ]) {
      assert.equal((await fetch(`${e2e.api.url}${p}`)).status, 401, p);
    }
    assert.equal(
      (
        await fetch(`${e2e.api.url}/api/v1/admin/keys`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: '{"tenant":"x","scopes":["admin"]}',
        })
      ).status,
      401,
    );
    assert.equal((await fetch(`${e2e.api.url}/api/v1/admin/keys/ffffffffffffffff`, { method: "DELETE" })).status, 401);
    const forged = await fetch(`${e2e.api.url}/api/v1/admin/keys`, {
      headers: { cookie: "sh_admin=eyJrZXlJZCI6ImFkbWluLXRva2VuIn0.forged" },
    });
    assert.equal(forged.status, 401, "a forged session cookie is refused");
    await e2e.audit("login");
  });

  it("logs in with an admin key (httpOnly, SameSite=Strict cookie)", async () => {
    await e2e.open("/admin/login");
    await e2e.fill({ "Admin API key": "not-a-key" });
    await e2e.page.getByRole("button", { name: "Log in" }).click();
    await e2e.page.locator("p[role=alert]").waitFor(); // (Next.js adds its own role=alert route announcer)
    await e2e.fill({ "Admin API key": e2e.api.adminToken });
    await e2e.page.getByRole("button", { name: "Log in" }).click();
    await e2e.page.waitForURL(`${e2e.api.url}/admin`);
    const cookie = (await e2e.context.cookies()).find((c) => c.name === "sh_admin");
    assert.ok(cookie?.httpOnly);
    assert.equal(cookie?.sameSite, "Strict");
    const withoutCsrf = await e2e.page.evaluate(
      async () =>
        (
          await fetch("/api/v1/admin/keys", {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: '{"tenant":"x","scopes":["state:read"]}',
          })
        ).status,
    );
    assert.equal(withoutCsrf, 403, "a mutation without the CSRF token is refused even with the cookie");
  });

  it("draws the overview's charts from live traffic, and its numbers agree with /api/v1/admin/metrics", {
    timeout: 120_000,
  }, async () => {
    const call = (p: string, init: RequestInit = {}) => e2e.api.call(p, { ...init, key }).then((r) => r.text());
    const put = (p: string, value: unknown, headers: Record<string, string> = {}) =>
      call(p, {
        method: "PUT",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ value }),
      });
    sessionId = (
      (await (await e2e.api.call("/api/v1/agents/assistant/sessions", { method: "POST", key })).json()) as {
        sessionId: string;
      }
    ).sessionId;
    const messages = ["Hi, my name is Dana Scully", "my email is dana@example.com", "what is my email?"];
    const until = Date.now() + 9000;
    for (let round = 0; Date.now() < until; round++) {
      for (let i = 0; i < 5; i++) {
        await put(`/api/v1/state/kv/item-${i}`, { round, i });
        await call(`/api/v1/state/kv/item-${i}`);
        await call(`/api/v1/state/kv/absent-${round}-${i}`);
      }
      await put("/api/v1/state/kv/item-0", { stale: true }, { "if-match": '"1"' });
      if (round < messages.length)
        await call(`/api/v1/agents/assistant/sessions/${sessionId}/messages`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ content: messages[round] }),
        });
      await new Promise((r) => setTimeout(r, 400));
    }
    await new Promise((r) => setTimeout(r, 2500)); // the last interval reaches the time series

    await e2e.open("/admin");
    await e2e.page.getByRole("button", { name: "p95" }).waitFor();
    await e2e.page.getByRole("button", { name: "p95" }).click();
    await e2e.page.getByRole("heading", { name: "p95 latency per tier" }).waitFor();
    await e2e.page.getByRole("button", { name: "p99" }).click();
    for (const chart of ["chart-latency", "chart-hit-ratio", "chart-ops", "chart-conflicts", "chart-stored"]) {
      const dots = e2e.page.locator(`[data-testid="${chart}"] .recharts-line-dots circle`);
      await dots.first().waitFor({ timeout: 20_000 });
      assert.ok((await dots.count()) >= 2, `${chart} has data points`);
      const d = await e2e.page.locator(`[data-testid="${chart}"] path.recharts-line-curve`).first().getAttribute("d");
      assert.match(d ?? "", /^M[\d.,-]+[LC]/, `${chart} draws a line through its points`);
    }
    const shown = {
      ops: Number(await e2e.page.getByTestId("ops-total").textContent()),
      conflicts: Number(await e2e.page.getByTestId("conflicts-total").textContent()),
      hotHit: await e2e.page.getByTestId("hit-ratio-hot").textContent(),
      p99: await e2e.page.locator('[data-testid="latency-tiered-get"] td[data-p99]').getAttribute("data-p99"),
    };
    const fromApi = (await e2e.page.evaluate(async () => (await fetch("/api/v1/admin/metrics?window=15m")).json())) as {
      operations: { total: number };
      conflicts: { total: number };
      hitRatio: { tier: string; ratio: number }[];
      latency: { tier: string; operation: string; p99: number }[];
    };
    assert.ok(shown.ops > 50, `traffic was recorded: ${shown.ops}`);
    assert.equal(shown.ops, fromApi.operations.total);
    assert.ok(shown.conflicts >= 1);
    assert.equal(shown.conflicts, fromApi.conflicts.total);
    assert.equal(shown.hotHit, `${(fromApi.hitRatio.find((h) => h.tier === "hot")!.ratio * 100).toFixed(1)}%`);
    assert.equal(Number(shown.p99), fromApi.latency.find((l) => l.tier === "tiered" && l.operation === "get")!.p99);
    await e2e.audit("overview");
  });

  it("shows each namespace's policy and growth", async () => {
    await e2e.open("/admin/namespaces", "namespaces");
    const row = e2e.page.getByRole("row", { name: /^sessions/ });
    assert.match((await row.textContent()) ?? "", /durable.*30 min.*turns: last 50/);
    await e2e.audit("namespaces");
  });

  it("opens a session, steps back through its history, and sees the earlier value and the diff", async () => {
    await e2e.open("/admin/state");
    await e2e.fill({ Tenant: "acme", Namespace: "sessions" });
    await e2e.page.getByRole("button", { name: "Search" }).click();
    await e2e.page.getByRole("button", { name: new RegExp(sessionId) }).click();
    await e2e.page.getByTestId("record-meta").waitFor();
    assert.match(
      (await e2e.page.getByTestId("record-meta").textContent()) ?? "",
      /Version 4 · served by the (hot|warm) tier · TTL \d+ s/,
    );
    const current = JSON.parse((await e2e.page.getByTestId("version-value").textContent()) ?? "{}") as {
      turnCount: number;
    };
    assert.equal(current.turnCount, 3);
    await e2e.page.getByTestId("version-2").click();
    const earlier = JSON.parse((await e2e.page.getByTestId("version-value").textContent()) ?? "{}") as {
      turnCount: number;
      entities: Record<string, unknown>;
    };
    assert.equal(earlier.turnCount, 1, "version 2 holds the first turn only");
    assert.equal(earlier.entities.name, "Dana Scully");
    assert.equal(earlier.entities.email, undefined, "the email came later");
    const diff = (await e2e.page.getByTestId("version-diff").textContent()) ?? "";
    assert.match(diff, /turnCount/, "the diff from version 1 shows what the first turn changed");
    await e2e.page.getByTestId("version-3").click();
    assert.match((await e2e.page.getByTestId("version-diff").textContent()) ?? "", /email/);
    await e2e.audit("state");
  });

  it("lists the alert rules with their state", async () => {
    await e2e.open("/admin/alerts", "alerts");
    assert.equal(await e2e.page.locator('[data-testid="alerts"] tbody tr').count(), 12);
    assert.match((await e2e.page.getByRole("row", { name: /StatehouseCircuitOpen/ }).textContent()) ?? "", /inactive/);
    await e2e.audit("alerts");
  });

  it("shows the outbox: pending events, lag and the newest events", async () => {
    await e2e.open("/admin/outbox", "outbox-events");
    assert.ok((await e2e.page.locator('[data-testid="outbox-events"] tbody tr').count()) > 0);
    assert.match((await e2e.page.getByTestId("outbox-pending").textContent()) ?? "", /^\d+$/);
    await e2e.audit("outbox");
  });

  it("creates a key (shown once) and revokes it", async () => {
    await e2e.open("/admin/keys");
    await e2e.fill({ Tenant: "e2e-tenant", Name: "from the browser" });
    await e2e.page.getByRole("button", { name: "Create key" }).click();
    const created = (await e2e.page.getByTestId("created-key").locator("pre").textContent()) ?? "";
    assert.match(created, /^shk_[a-f0-9]{16}_/);
    assert.equal((await e2e.api.call("/api/v1/state/kv/x", { key: created })).status, 404, "the new key works");
    const id = created.split("_")[1]!;
    await e2e.shot("keys");
    await e2e.page.getByRole("button", { name: `Revoke key ${id}` }).click();
    await e2e.page.locator(`[data-testid="key-${id}"] td.bad`).waitFor();
    assert.equal(
      (await e2e.api.call("/api/v1/state/kv/x", { key: created })).status,
      401,
      "the revoked key is refused",
    );
    await e2e.axe("keys");
  });

  it("logs out, and the session is over everywhere (a copied cookie no longer works)", async () => {
    await e2e.open("/admin");
    const copied = (await e2e.context.cookies()).find((c) => c.name === "sh_admin")!.value;
    assert.equal(
      (await fetch(`${e2e.api.url}/api/v1/admin/keys`, { headers: { cookie: `sh_admin=${copied}` } })).status,
      200,
    );
    await e2e.page.getByRole("button", { name: "Log out" }).click();
    await e2e.page.waitForURL(`${e2e.api.url}/admin/login`);
    assert.equal(
      (await fetch(`${e2e.api.url}/api/v1/admin/keys`, { headers: { cookie: `sh_admin=${copied}` } })).status,
      401,
      "the copied cookie is refused after logout",
    );
    await e2e.open("/admin/keys");
    assert.equal(new URL(e2e.page.url()).pathname, "/admin/login");
  });
});
