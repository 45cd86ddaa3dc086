// A tenant admin's dashboard in a real browser (Debian's Chromium through playwright-core) against a
// started server on the real PostgreSQL and Redis: it sees its own tenant only (no tenant picker, no
// deployment-wide pages, other tenants' state, runs, events and keys absent), mints keys only for its
// tenant and without platform:admin, and no page it uses calls a route that answers it 403 or 404.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { dashboardSuite } from "../helpers/e2e";

describe("a tenant admin's dashboard (Chromium)", () => {
  const e2e = dashboardSuite({ env: { STATEHOUSE_STATS_INTERVAL_MS: "1000" }, screenshots: "tenant-admin-" });
  let tenantAdmin: string;
  let acmeRun: string;
  /** Every API answer the pages got that would be an error for a normal page: 403 and 404. */
  const refused: string[] = [];

  before(async () => {
    ({ key: tenantAdmin } = await e2e.api.clientFor("acme", ["admin"]));
    const { key: acme } = await e2e.api.clientFor("acme");
    const { key: globex } = await e2e.api.clientFor("globex");
    const put = (key: string, k: string, value: unknown) =>
      e2e.api.send("PUT", `/api/v1/state/kv/${k}`, { value }, { key });
    assert.equal((await put(acme, "acme-item", { of: "acme" })).status, 201);
    assert.equal((await put(globex, "globex-item", { of: "globex" })).status, 201);
    const start = async (key: string) => {
      const res = await e2e.api.send("POST", "/api/v1/workflows", { type: "plan", input: { steps: 1 } }, { key });
      return ((await res.json()) as { runId: string }).runId;
    };
    acmeRun = await start(acme);
    await start(globex);
    e2e.page.on("response", (res) => {
      const url = new URL(res.url());
      if (url.pathname.startsWith("/api/") && (res.status() === 403 || res.status() === 404))
        refused.push(`${res.status()} ${url.pathname}${url.search}`);
    });
    await e2e.login(tenantAdmin);
  });

  it("the overview is its tenant's usage and the stores, and the nav has no deployment-wide page", async () => {
    assert.match((await e2e.page.getByTestId("viewer").textContent()) ?? "", /tenant acme/);
    await e2e.page.getByTestId("tenant-usage").waitFor();
    assert.match((await e2e.page.getByRole("heading", { level: 1 }).textContent()) ?? "", /acme/);
    // The page and the API read the same counter; a read that misses the hot tier's budget on a busy
    // machine shows the count a moment later, so compare until they agree (a few reloads at most).
    let shown = "";
    let used = "";
    for (let attempt = 0; attempt < 10; attempt++) {
      used = String(
        ((await (await e2e.api.call("/api/v1/quota", { key: tenantAdmin })).json()) as { operations: { used: number } })
          .operations.used,
      );
      shown = (await e2e.page.getByTestId("tenant-ops").textContent()) ?? "";
      if (shown === used) break;
      await new Promise((r) => setTimeout(r, 500));
      await e2e.page.reload();
      await e2e.page.getByTestId("tenant-usage").waitFor();
    }
    assert.equal(shown, used);
    await e2e.page.getByTestId("stores").waitFor();
    assert.equal(await e2e.page.getByTestId("chart-latency").count(), 0, "no deployment-wide charts");
    const links = await e2e.page.getByRole("navigation", { name: "Admin" }).getByRole("link").allTextContents();
    assert.deepEqual(links, [
      "Overview",
      "Namespaces",
      "State",
      "Outbox",
      "Agents",
      "Memories",
      "Workflows",
      "API keys",
      "Quotas",
    ]);
    await e2e.audit("overview");
  });

  it("namespaces show their policies", async () => {
    await e2e.open("/admin/namespaces", "namespaces");
    assert.match((await e2e.page.getByRole("row", { name: /^sessions/ }).textContent()) ?? "", /durable/);
  });

  it("the state browser is its own tenant's, with no picker", async () => {
    await e2e.open("/admin/state", "own-tenant");
    assert.match((await e2e.page.getByTestId("own-tenant").textContent()) ?? "", /acme/);
    assert.equal(await e2e.page.getByLabel("Tenant").count(), 0, "no tenant picker");
    await e2e.fill({ Namespace: "kv" });
    await e2e.page.getByRole("button", { name: "Search" }).click();
    await e2e.page.getByTestId("key-list").waitFor();
    const keys = (await e2e.page.getByTestId("key-list").textContent()) ?? "";
    assert.match(keys, /acme-item/);
    assert.doesNotMatch(keys, /globex/);
    await e2e.page.getByRole("button", { name: /acme-item/ }).click();
    await e2e.page.getByTestId("version-value").waitFor();
    assert.deepEqual(JSON.parse((await e2e.page.getByTestId("version-value").textContent()) ?? "null"), { of: "acme" });
    await e2e.audit("state");
  });

  it("the outbox and the workflows are its tenant's", async () => {
    await e2e.open("/admin/outbox", "outbox-events");
    const tenants = await e2e.page.locator('[data-testid="outbox-events"] tbody tr td:nth-child(2)').allTextContents();
    assert.ok(tenants.length > 0 && tenants.every((t) => t === "acme"), tenants.join());
    await e2e.open("/admin/workflows", "workflow-runs");
    const runs = (await e2e.page.getByTestId("workflow-runs").textContent()) ?? "";
    assert.match(runs, new RegExp(acmeRun));
    assert.doesNotMatch(runs, /globex/);
  });

  it("keys: mints for its tenant only, never platform:admin; sees only its tenant's", async () => {
    await e2e.open("/admin/keys", "keys");
    const tenants = await e2e.page.locator('[data-testid="keys"] tbody tr td:nth-child(2)').allTextContents();
    assert.ok(tenants.length >= 2 && tenants.every((t) => t === "acme"), tenants.join());
    assert.equal(await e2e.page.getByRole("checkbox", { name: "platform:admin" }).count(), 0);
    assert.equal(await e2e.page.getByRole("textbox", { name: "Tenant" }).count(), 0, "no tenant field: its own");
    await e2e.fill({ Name: "from the tenant admin" });
    await e2e.page.getByRole("button", { name: "Create key" }).click();
    const created = (await e2e.page.getByTestId("created-key").locator("pre").textContent()) ?? "";
    const id = created.split("_")[1]!;
    const info = (
      (await (await e2e.api.call("/api/v1/admin/keys?tenant=acme", { key: e2e.api.adminToken })).json()) as {
        keys: { id: string; tenant: string }[];
      }
    ).keys.find((k) => k.id === id);
    assert.equal(info?.tenant, "acme");
    await e2e.audit("keys");
  });

  it("quotas: its own row, read-only; alerts: a notice, no call", async () => {
    await e2e.open("/admin/quotas", "quota-acme");
    assert.equal(await e2e.page.locator('[data-testid="quota-table"] tbody tr').count(), 1);
    assert.equal(await e2e.page.getByRole("form", { name: "Tenant policy" }).count(), 0, "no form to set limits");
    await e2e.open("/admin/alerts", "platform-only");
    await e2e.axe("quotas");
  });

  it("no page called a route that refused it (403/404)", () => {
    assert.deepEqual(refused, []);
  });
});
