// The dashboard's capacity card (overview) and quotas page in a real browser (Debian's Chromium through
// playwright-core) against a started server on the real PostgreSQL and Redis: numbers equal to the API
// answers, the sessions chart drawn, a tenant policy set from the page and enforced, axe on both pages.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { BrowserContext, Page } from "playwright-core";
import { type ApiFixture, startApi } from "../helpers/api";
import { assertAccessible, launchBrowser, SCREENSHOTS } from "../helpers/browser";
import { eventually } from "../helpers/metrics";

describe("capacity and quotas in the dashboard (Chromium)", () => {
  let api: ApiFixture;
  let context: BrowserContext;
  let page: Page;
  let closeBrowser: (() => Promise<void>) | undefined;
  let key: string;

  before(async () => {
    api = await startApi({ STATEHOUSE_STATS_INTERVAL_MS: "300", STATEHOUSE_REGION: "eu-west" });
    ({ key } = await api.clientFor("shop"));
    ({ context, page, close: closeBrowser } = await launchBrowser());
    await page.goto(`${api.url}/admin/login`);
    await page.getByLabel("Admin API key").fill(api.adminToken);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL(`${api.url}/admin`);
  });
  after(async () => {
    await closeBrowser?.();
    await api?.close();
  });

  const axe = (name: string) => assertAccessible(page, name);

  it("the overview shows active sessions and the forecast as the capacity API reports them, with a chart", async () => {
    for (let i = 0; i < 3; i++)
      assert.equal((await api.call("/api/v1/agents/assistant/sessions", { method: "POST", key })).status, 201);
    const capacity = () =>
      api
        .call("/api/v1/admin/capacity", { key: api.adminToken })
        .then(
          (r) =>
            r.json() as Promise<{ series: { agent: string; active: number; forecast: number; samples: unknown[] }[] }>,
        );
    await eventually(capacity, (c) => c.series[0]!.active === 3 && c.series[0]!.samples.length >= 3);
    await page.goto(`${api.url}/admin`);
    await page.getByTestId("sessions-active-assistant").waitFor();
    assert.equal(await page.getByTestId("sessions-active-assistant").textContent(), "3");
    const api1 = (await capacity()).series[0]!;
    const shown = Number(await page.getByTestId("sessions-forecast-assistant").textContent());
    assert.ok(
      shown >= 3 && Math.abs(shown - api1.forecast) <= Math.max(1, api1.forecast * 0.5),
      `forecast shown ${shown}, API ${api1.forecast}`,
    );
    const lines = await page.getByTestId("chart-sessions").locator("path.recharts-line-curve").count();
    assert.equal(lines, 2, "samples and forecast are drawn");
    await page.screenshot({ path: path.join(SCREENSHOTS, "overview-capacity.png"), fullPage: true });
    await axe("overview with capacity");
  });

  it("the quotas page shows usage, sets a policy that is enforced, and lists refused writes", async () => {
    for (let i = 0; i < 2; i++) {
      const res = await api.call(`/api/v1/state/kv/item-${i}`, {
        method: "PUT",
        key,
        headers: { "content-type": "application/json" },
        body: '{"value":{"n":1}}',
      });
      assert.equal(res.status, 201);
    }
    await page.goto(`${api.url}/admin/quotas`);
    await page.getByTestId("quota-shop").waitFor();
    const usage = (await (await api.call("/api/v1/admin/tenants/shop/policy", { key: api.adminToken })).json()) as {
      operations: { used: number };
      bytesStored: { used: number };
    };
    assert.equal(await page.getByTestId("ops-used-shop").textContent(), String(usage.operations.used));
    assert.equal(usage.operations.used, 5, "3 sessions + 2 writes");
    assert.equal(await page.getByTestId("bytes-used-shop").textContent(), `${usage.bytesStored.used} B`);
    assert.equal(await page.getByTestId("server-region").textContent(), "eu-west");

    const form = page.getByRole("form", { name: "Tenant policy" });
    await form.getByLabel("Tenant").fill("shop");
    await form.getByLabel("Region").fill("us-east");
    await form.getByRole("button", { name: "Save" }).click();
    await page.getByText("Saved the policy of shop.").waitFor();
    const refused = await api.call("/api/v1/state/kv/item-9", {
      method: "PUT",
      key,
      headers: { "content-type": "application/json" },
      body: '{"value":1}',
    });
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { code: string }).code, "residency_violation");
    await page.reload();
    await page.getByTestId("residency-audit").waitFor();
    assert.match(
      (await page.getByTestId("residency-audit").textContent()) ?? "",
      /shop.*us-east.*eu-west.*PUT \/api\/v1\/state\/\{ns\}\/\{key\}/,
    );
    await page.screenshot({ path: path.join(SCREENSHOTS, "quotas.png"), fullPage: true });
    await axe("quotas");
  });
});
