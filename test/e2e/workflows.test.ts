// The dashboard's workflows page in a real browser (Debian's Chromium through playwright-core) against a
// started server on the real PostgreSQL and Redis with its in-app worker: recent runs with status and
// progress, a run's checkpoints, the status filter, anonymous visitors refused, axe.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { dashboardSuite } from "../helpers/e2e";

describe("workflows page in Chromium", () => {
  const e2e = dashboardSuite({ env: { STATEHOUSE_WORKFLOW_WORKERS: "1", STATEHOUSE_WORKFLOW_POLL_MS: "50" } });
  let key: string;

  before(async () => {
    ({ key } = await e2e.api.clientFor("acme", ["workflows:run"]));
  });

  const startRun = async (input: Record<string, unknown>): Promise<string> => {
    const res = await e2e.api.call("/api/v1/workflows", {
      method: "POST",
      key,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ type: "plan", input }),
    });
    assert.equal(res.status, 202);
    return ((await res.json()) as { runId: string }).runId;
  };
  const waitStatus = async (runId: string, status: string) => {
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
      const run = (await (await e2e.api.call(`/api/v1/workflows/${runId}`, { key })).json()) as { status: string };
      if (run.status === status) return;
    }
    throw new Error(`run ${runId} never reached ${status}`);
  };

  it("refuses the page and its API without a session", async () => {
    await e2e.page.goto(`${e2e.api.url}/admin/workflows`);
    assert.equal(new URL(e2e.page.url()).pathname, "/admin/login");
    assert.equal((await fetch(`${e2e.api.url}/api/v1/admin/workflows`)).status, 401);
    assert.equal((await fetch(`${e2e.api.url}/api/v1/admin/workflows/acme/run_00000000000000000000`)).status, 401);
  });

  it("lists recent runs with status and progress, and shows a run's checkpoints", async () => {
    const done = await startRun({ steps: 4, seed: "dash" });
    await waitStatus(done, "succeeded");
    const failing = await startRun({ steps: 2, failTimes: { "1": 5 } });
    // Writing the plan's side-effect log to the server's disk is off unless the operator turns it on.
    const refused = await e2e.api.call("/api/v1/workflows", {
      method: "POST",
      key,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ type: "plan", input: { effectsLog: "x" } }),
    });
    assert.equal(refused.status, 422);
    await waitStatus(failing, "failed");

    await e2e.login();
    await e2e.page.getByRole("link", { name: "Workflows" }).click();
    await e2e.page.waitForURL(`${e2e.api.url}/admin/workflows`);

    const row = e2e.page.locator(`tr[data-run="${done}"]`);
    await row.waitFor();
    assert.match(await row.innerText(), /acme\s+plan\s+succeeded\s+4\/4/);
    assert.equal(await row.getByRole("progressbar", { name: "4 of 4 steps" }).getAttribute("value"), "4");
    assert.match(await e2e.page.locator(`tr[data-run="${failing}"]`).innerText(), /failed\s+0\/2/);

    await row.getByRole("button", { name: done }).click();
    const detail = e2e.page.getByTestId("workflow-detail");
    await detail.waitFor();
    assert.equal(await e2e.page.getByTestId("workflow-detail-status").innerText(), "succeeded");
    const checkpoints = e2e.page.getByTestId("workflow-checkpoints").locator("tbody tr");
    assert.equal(await checkpoints.count(), 4);
    assert.match(await checkpoints.nth(3).innerText(), /^4\s+step 4\s+1\s/);
    await e2e.axe("workflows");
    await e2e.shot("workflows");

    await e2e.page.locator(`tr[data-run="${failing}"]`).getByRole("button").click();
    await e2e.page.getByText(/Failed at step 1: step 1 failed on purpose \(attempt 3\)/).waitFor();

    await e2e.page.getByTestId("workflow-status-filter").selectOption("failed");
    await e2e.page.locator(`tr[data-run="${done}"]`).waitFor({ state: "detached" });
    assert.equal(await e2e.page.locator(`tr[data-run="${failing}"]`).count(), 1);
  });
});
