// The dashboard's Memories page in a real browser (Debian's Chromium through playwright-core) against a
// started server on the real PostgreSQL and Redis: a tenant's users with memories, a user's memories,
// a search by meaning ranking the matching memory first, a memory's versions, a tenant admin kept to
// its own tenant, anonymous visitors refused, axe.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { dashboardSuite } from "../helpers/e2e";

describe("memories page in Chromium", () => {
  const e2e = dashboardSuite();

  before(async () => {
    const { key } = await e2e.api.clientFor("acme", ["memories:read", "memories:write"]);
    const add = async (body: object) =>
      assert.equal((await e2e.api.send("POST", "/api/v1/memories", body, { key })).status < 300, true);
    await add({
      userId: "ada",
      text: "Ada is vegetarian and likes vegetarian food such as lentil curry.",
      kind: "preference",
    });
    await add({ userId: "ada", text: "Ada plays the cello on Saturdays." });
    await add({ userId: "ada", text: "Ada's email is ada@old.example", subject: "email" });
    await add({ userId: "ada", text: "Ada's email is ada@new.example", subject: "email" });
    await add({ userId: "bob", text: "Bob rides a blue bicycle." });
  });

  it("refuses the page and its API without a session", async () => {
    await e2e.open("/admin/memories");
    assert.equal(new URL(e2e.page.url()).pathname, "/admin/login");
    for (const p of ["/api/v1/admin/memories/acme", "/api/v1/admin/memories/acme/list?userId=ada"])
      assert.equal((await fetch(`${e2e.api.url}${p}`)).status, 401, p);
  });

  it("lists users, a user's memories, searches them by meaning and shows a memory's versions", async () => {
    await e2e.login();
    await e2e.page.getByRole("link", { name: "Memories" }).click();
    await e2e.page.waitForURL(`${e2e.api.url}/admin/memories`);
    await e2e.fill({ Tenant: "acme" });
    const ada = e2e.page.locator('tr[data-user="ada"]');
    await ada.waitFor();
    assert.match(await ada.innerText(), /ada\s+3\s/);
    assert.match(await e2e.page.locator('tr[data-user="bob"]').innerText(), /bob\s+1\s/);

    await ada.getByRole("button", { name: "ada" }).click();
    const rows = e2e.page.getByTestId("memory-list").locator("tbody tr");
    await rows.nth(2).waitFor();
    assert.equal(await rows.count(), 3);

    await e2e.fill({ "Search by meaning": "what food does she like to eat" });
    await e2e.page.getByRole("button", { name: "Search", exact: true }).click();
    await e2e.page.getByText("shares words").first().waitFor();
    assert.match(await rows.first().innerText(), /vegetarian/);

    await e2e.page.getByRole("button", { name: "Show all" }).click();
    await e2e.page.getByRole("button", { name: /ada@new\.example/ }).click();
    await e2e.page.getByTestId("memory-version-2").waitFor();
    assert.match(await e2e.page.getByTestId("memory-version-text").innerText(), /ada@new\.example/);
    await e2e.page.getByTestId("memory-version-1").click();
    await e2e.page.getByText(/Version 1 \(put at .*\): Ada's email is ada@old\.example/).waitFor();
    await e2e.audit("memories");
  });

  it("keeps a tenant admin to its own tenant's memories", async () => {
    const { key: globexAdmin } = await e2e.api.clientFor("globex", ["admin"]);
    await e2e.context.clearCookies();
    await e2e.login(globexAdmin);
    await e2e.open("/admin/memories");
    await e2e.page.getByText("No memories yet").waitFor();
    assert.equal(await e2e.page.getByTestId("own-tenant").innerText(), "Tenant globex");
    const theirs = await e2e.page.evaluate(async () => (await fetch("/api/v1/admin/memories/acme")).status);
    assert.equal(theirs, 404);
  });
});
