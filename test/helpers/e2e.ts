// The setup every browser test shares: a started server, Debian's Chromium, the dashboard login, and the cleanup.
import path from "node:path";
import { after, before } from "node:test";
import type { BrowserContext, Page } from "playwright-core";
import { type ApiFixture, startApi } from "./api";
import { assertAccessible, launchBrowser, SCREENSHOTS } from "./browser";

export interface DashboardSuite {
  readonly api: ApiFixture;
  readonly page: Page;
  readonly context: BrowserContext;
  /** Logs in through the login page with `key` (the admin token by default) and waits for the overview. */
  login(key?: string): Promise<void>;
  /** Runs axe on the current page: no serious or critical violation. */
  axe(name: string): Promise<void>;
  /** A full-page screenshot in test-results/screenshots, `<screenshots prefix><name>.png`. */
  shot(name: string): Promise<unknown>;
  /** `axe(name)`, then `shot(name)`. */
  audit(name: string): Promise<void>;
  /** Goes to `path` on the server and, given `testId`, waits for the element with that test id. */
  open(path: string, testId?: string): Promise<void>;
  /** For each label, in order: chooses the option `value` of a select, or fills any other field with it. */
  fill(fields: Record<string, string>): Promise<void>;
}

/**
 * Registers the suite's hooks; call it inside `describe`, before the suite's own `before` (which then
 * runs after it). Before the tests: a server started with `env` on the real PostgreSQL and Redis, and
 * Chromium; after them, both stopped. Reading `api`, `page` or `context` earlier throws.
 */
export function dashboardSuite(options: { env?: Record<string, string>; screenshots?: string } = {}): DashboardSuite {
  let api: ApiFixture | undefined;
  let browser: Awaited<ReturnType<typeof launchBrowser>> | undefined;
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error("the dashboard suite has not started: read it inside a test or hook");
    return value;
  };
  before(async () => {
    api = await startApi(options.env);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await api?.close();
  });
  const suite: DashboardSuite = {
    get api() {
      return started(api);
    },
    get page() {
      return started(browser).page;
    },
    get context() {
      return started(browser).context;
    },
    async login(key) {
      const { page, api } = suite;
      await page.goto(`${api.url}/admin/login`);
      await page.getByLabel("Admin API key").fill(key ?? api.adminToken);
      await page.getByRole("button", { name: "Log in" }).click();
      await page.waitForURL(`${api.url}/admin`);
    },
    axe: (name) => assertAccessible(suite.page, name),
    shot: (name) =>
      suite.page.screenshot({
        path: path.join(SCREENSHOTS, `${options.screenshots ?? ""}${name}.png`),
        fullPage: true,
      }),
    async audit(name) {
      await suite.axe(name);
      await suite.shot(name);
    },
    async open(where, testId) {
      await suite.page.goto(`${suite.api.url}${where}`);
      if (testId !== undefined) await suite.page.getByTestId(testId).waitFor();
    },
    async fill(fields) {
      for (const [label, value] of Object.entries(fields)) {
        const field = suite.page.getByLabel(label);
        if (await field.evaluate((el) => el.tagName === "SELECT")) await field.selectOption(value);
        else await field.fill(value);
      }
    },
  };
  return suite;
}
