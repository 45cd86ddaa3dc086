// The dashboard's Agents page in a real browser (Debian's Chromium through playwright-core) against a
// started server on the real PostgreSQL and Redis: a tenant's agents with the day's turns, latency and
// tokens agreeing with the admin API, a definition's version history, an agent's conversations, a tenant
// admin kept to its own tenant, anonymous visitors refused, axe.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { openaiClient } from "../helpers/api";
import { dashboardSuite } from "../helpers/e2e";

describe("agents page in Chromium", () => {
  const e2e = dashboardSuite();
  let key: string;
  let conversationId: string;

  before(async () => {
    ({ key } = await e2e.api.clientFor("acme", ["agents:invoke", "agents:manage"]));
    const define = (definition: object) =>
      e2e.api.send("PUT", "/api/v1/agents/support-bot", definition, { key }).then((r) => r.status);
    assert.equal(await define({ description: "Answers support questions", instructions: "Be kind." }), 201);
    assert.equal(await define({ description: "Answers support questions", instructions: "Be brief." }), 200);
    const client = openaiClient(e2e.api.url, key);
    const conversation = await client.conversations.create({ metadata: { user_id: "ada" } });
    conversationId = conversation.id;
    for (const input of ["My email is ada@example.com", "What is my email?", "Thanks!"])
      await client.responses.create({ model: "support-bot", input, conversation: conversationId });
  });

  it("refuses the page and its API without a session", async () => {
    await e2e.open("/admin/agents");
    assert.equal(new URL(e2e.page.url()).pathname, "/admin/login");
    for (const p of ["/api/v1/admin/agents/acme", "/api/v1/admin/agents/acme/support-bot/conversations"])
      assert.equal((await fetch(`${e2e.api.url}${p}`)).status, 401, p);
  });

  it("shows each agent's day, its definition's versions and its conversations, as the admin API reports them", async () => {
    await e2e.login();
    await e2e.page.getByRole("link", { name: "Agents" }).click();
    await e2e.page.waitForURL(`${e2e.api.url}/admin/agents`);
    await e2e.fill({ Tenant: "acme" });
    const row = e2e.page.locator('tr[data-agent="support-bot"]');
    await row.waitFor();
    const api = (await (await e2e.api.call("/api/v1/admin/agents/acme", { key: e2e.api.adminToken })).json()) as {
      agents: { name: string; last24h: { turns: number; inputTokens: number; outputTokens: number } }[];
    };
    const figures = api.agents.find((a) => a.name === "support-bot")!.last24h;
    assert.equal(figures.turns, 3);
    const cells = await row.locator("td").allInnerTexts();
    assert.deepEqual(cells.slice(2, 6), ["2", "1", "3", "0"], `version, live sessions, turns, failed: ${cells}`);
    assert.match(cells[6]!, /^\d+ ms$/, "p50 latency");
    assert.deepEqual(cells.slice(8), [
      figures.inputTokens.toLocaleString("en-US"),
      figures.outputTokens.toLocaleString("en-US"),
    ]);
    assert.match(await e2e.page.locator('tr[data-agent="assistant"]').innerText(), /assistant\s+\(built in\)/);

    await row.getByRole("button", { name: "support-bot" }).click();
    const detail = e2e.page.getByTestId("agent-detail");
    await detail.waitFor();
    assert.equal(await e2e.page.getByTestId("agent-turns").innerText(), "3");
    await e2e.page.getByTestId("agent-turns-chart").locator("svg").first().waitFor();

    await e2e.page.getByTestId("definition-version-2").waitFor();
    assert.match(await e2e.page.getByTestId("definition-value").innerText(), /Be brief\./);
    await e2e.page.getByTestId("definition-version-1").click();
    await e2e.page.getByText(/"instructions": "Be kind\."/).waitFor();

    const conversation = e2e.page.locator(`tr[data-conversation="${conversationId}"]`);
    await conversation.waitFor();
    assert.match(await conversation.innerText(), new RegExp(`${conversationId}\\s+3\\s+v2\\s+ada`));
    await e2e.audit("agents");
  });

  it("keeps a tenant admin to its own tenant's agents", async () => {
    const { key: globexAdmin } = await e2e.api.clientFor("globex", ["admin"]);
    await e2e.context.clearCookies();
    await e2e.login(globexAdmin);
    await e2e.open("/admin/agents", "agent-list");
    assert.equal(await e2e.page.getByTestId("own-tenant").innerText(), "Tenant globex");
    assert.equal(await e2e.page.locator('tr[data-agent="support-bot"]').count(), 0);
    assert.equal(await e2e.page.locator("tr[data-agent]").count(), 1, "the built-in agent only");
    const theirs = await e2e.page.evaluate(async () => (await fetch("/api/v1/admin/agents/acme")).status);
    assert.equal(theirs, 404);
  });
});
