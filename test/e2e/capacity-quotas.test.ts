// The dashboard's capacity card (overview) and quotas page in a real browser (Debian's Chromium through
// playwright-core) against a started server on the real PostgreSQL and Redis: numbers equal to the API
// answers, the sessions chart drawn, a tenant policy set from the page and enforced, axe on both pages.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { dashboardSuite } from "../helpers/e2e";
import { eventually } from "../helpers/metrics";

describe("capacity and quotas in the dashboard (Chromium)", () => {
  const e2e = dashboardSuite({ env: { STATEHOUSE_STATS_INTERVAL_MS: "300", STATEHOUSE_REGION: "eu-west" } });
  let key: string;

  before(async () => {
    ({ key } = await e2e.api.clientFor("shop"));
    await e2e.login();
  });

  it("the overview shows active sessions and the forecast as the capacity API reports them, with a chart", async () => {
    for (let i = 0; i < 3; i++)
      assert.equal((await e2e.api.call("/api/v1/agents/assistant/sessions", { method: "POST", key })).status, 201);
    const capacity = () =>
      e2e.api
        .call("/api/v1/admin/capacity", { key: e2e.api.adminToken })
        .then(
          (r) =>
            r.json() as Promise<{ series: { agent: string; active: number; forecast: number; samples: unknown[] }[] }>,
        );
    await eventually(capacity, (c) => c.series[0]!.active === 3 && c.series[0]!.samples.length >= 3);
    await e2e.page.goto(`${e2e.api.url}/admin`);
    await e2e.page.getByTestId("sessions-active-assistant").waitFor();
    assert.equal(await e2e.page.getByTestId("sessions-active-assistant").textContent(), "3");
    const api1 = (await capacity()).series[0]!;
    const shown = Number(await e2e.page.getByTestId("sessions-forecast-assistant").textContent());
    assert.ok(
      shown >= 3 && Math.abs(shown - api1.forecast) <= Math.max(1, api1.forecast * 0.5),
      `forecast shown ${shown}, API ${api1.forecast}`,
    );
    const lines = await e2e.page.getByTestId("chart-sessions").locator("path.recharts-line-curve").count();
    // Samples and forecast of each agent label: the built-in assistant's, and "custom" (tenants' own agents).
    assert.equal(lines, 4, "samples and forecast are drawn for assistant and custom");
    assert.equal(await e2e.page.getByTestId("sessions-active-custom").textContent(), "0");
    await e2e.shot("overview-capacity");
    await e2e.axe("overview with capacity");
  });

  it("the quotas page shows usage, sets a policy that is enforced, and lists refused writes", async () => {
    for (let i = 0; i < 2; i++) {
      const res = await e2e.api.call(`/api/v1/state/kv/item-${i}`, {
        method: "PUT",
        key,
        headers: { "content-type": "application/json" },
        body: '{"value":{"n":1}}',
      });
      assert.equal(res.status, 201);
    }
    await e2e.page.goto(`${e2e.api.url}/admin/quotas`);
    await e2e.page.getByTestId("quota-shop").waitFor();
    const usage = (await (
      await e2e.api.call("/api/v1/admin/tenants/shop/policy", { key: e2e.api.adminToken })
    ).json()) as {
      operations: { used: number };
      bytesStored: { used: number };
    };
    assert.equal(await e2e.page.getByTestId("ops-used-shop").textContent(), String(usage.operations.used));
    assert.equal(usage.operations.used, 5, "3 sessions + 2 writes");
    assert.equal(await e2e.page.getByTestId("bytes-used-shop").textContent(), `${usage.bytesStored.used} B`);
    assert.equal(await e2e.page.getByTestId("server-region").textContent(), "eu-west");

    const form = e2e.page.getByRole("form", { name: "Tenant policy" });
    await form.getByLabel("Tenant").fill("shop");
    await form.getByLabel("Region").fill("us-east");
    await form.getByRole("button", { name: "Save" }).click();
    await e2e.page.getByText("Saved the policy of shop.").waitFor();
    const refused = await e2e.api.call("/api/v1/state/kv/item-9", {
      method: "PUT",
      key,
      headers: { "content-type": "application/json" },
      body: '{"value":1}',
    });
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { code: string }).code, "residency_violation");
    await e2e.page.reload();
    await e2e.page.getByTestId("residency-audit").waitFor();
    assert.match(
      (await e2e.page.getByTestId("residency-audit").textContent()) ?? "",
      /shop.*us-east.*eu-west.*PUT \/api\/v1\/state\/\{ns\}\/\{key\}/,
    );
    await e2e.shot("quotas");
    await e2e.axe("quotas");
  });
});
