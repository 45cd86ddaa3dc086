// Authentication abuse against the real process (PostgreSQL, Redis): failed key checks and logins
// throttled per client address (only failures count), the login's CSRF refusals, sessions ending with
// their key, X-Forwarded-For believed only from a trusted proxy, and 408 for a trickled body.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../server/config";
import { type ApiFixture, startApi } from "../helpers/api";

const randomKey = () => `shk_${randomBytes(8).toString("hex")}_${randomBytes(32).toString("base64url")}`;
const get = (api: ApiFixture, key: string, headers: Record<string, string> = {}) =>
  fetch(`${api.url}/api/v1/state/kv/probe`, { headers: { authorization: `Bearer ${key}`, ...headers } });

function login(api: ApiFixture, body: string, headers: Record<string, string>): Promise<Response> {
  return fetch(`${api.url}/api/admin/session`, { method: "POST", headers, body });
}

/** A request over a raw socket whose body arrives one byte per second; resolves with what the server sent and when. */
function trickle(
  api: ApiFixture,
  head: string,
  length: number,
  maxMs: number,
): Promise<{ text: string; afterMs: number }> {
  const { hostname, port } = new URL(api.url);
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect(Number(port), hostname);
    let text = "";
    let sent = 0;
    const timer = setInterval(() => {
      if (sent < length && !socket.destroyed) {
        socket.write("a", () => {});
        sent++;
      }
    }, 1000);
    const done = () => {
      clearInterval(timer);
      clearTimeout(guard);
      socket.destroy();
      resolve({ text, afterMs: Date.now() - started });
    };
    const guard = setTimeout(done, maxMs);
    socket.on("connect", () => socket.write(`${head}Content-Length: ${length}\r\n\r\n`));
    socket.on("data", (d) => (text += d.toString("utf8")));
    socket.on("error", () => {});
    socket.on("close", done);
  });
}

describe("authentication abuse, one address (no trusted proxy)", () => {
  let api: ApiFixture;
  before(async () => {
    api = await startApi({ STATEHOUSE_REQUEST_TIMEOUT_MS: "3000", STATEHOUSE_HEADERS_TIMEOUT_MS: "2000" });
  });
  after(() => api?.close());

  it("answers 408 to a body trickled one byte a second, and the default request timeout is under 20 s", {
    timeout: 60_000,
  }, async () => {
    const { key } = await api.clientFor("acme", ["state:read", "state:write"]);
    const host = new URL(api.url).host;
    const { text, afterMs } = await trickle(
      api,
      `PUT /api/v1/state/kv/slow HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\n`,
      30,
      15_000,
    );
    assert.match(text, /^HTTP\/1\.1 408 /, `a 408 the client can read (got ${JSON.stringify(text.slice(0, 60))})`);
    assert.ok(afterMs < 10_000, `answered after ${afterMs} ms with a 3 s request timeout checked every second`);
    assert.equal((await get(api, key)).status, 404, "nothing was written and the server still answers");
    // The defaults: a whole request within 15 s, checked every second, so a 20 s trickle never finishes.
    const defaults = loadConfig({});
    assert.ok(
      defaults.STATEHOUSE_REQUEST_TIMEOUT_MS + 1000 < 20_000,
      `default request timeout ${defaults.STATEHOUSE_REQUEST_TIMEOUT_MS} ms`,
    );
    assert.ok(defaults.STATEHOUSE_HEADERS_TIMEOUT_MS <= defaults.STATEHOUSE_REQUEST_TIMEOUT_MS);
  });

  it("refuses cross-site and non-JSON logins without a cookie, and logs in same-origin JSON", async () => {
    const { key: adminKey } = await api.clientFor("acme", ["admin"]);
    const origin = api.url; // what a browser on the dashboard's page sends
    const body = JSON.stringify({ key: adminKey });
    const refusals: [string, string, Record<string, string>, number][] = [
      [
        "cross-site text/plain (a form or no-cors fetch)",
        body,
        { "content-type": "text/plain", origin: "https://evil.example", "sec-fetch-site": "cross-site" },
        403,
      ],
      [
        "cross-site JSON",
        body,
        { "content-type": "application/json", origin: "https://evil.example", "sec-fetch-site": "cross-site" },
        403,
      ],
      [
        "JSON with a foreign Origin and no Sec-Fetch-Site",
        body,
        { "content-type": "application/json", origin: "https://evil.example" },
        403,
      ],
      ["JSON from a sibling site", body, { "content-type": "application/json", "sec-fetch-site": "same-site" }, 403],
      ["JSON with Origin null", body, { "content-type": "application/json", origin: "null" }, 403],
      ["same-origin text/plain", body, { "content-type": "text/plain", origin, "sec-fetch-site": "same-origin" }, 415],
      ["same-origin form", `key=${adminKey}`, { "content-type": "application/x-www-form-urlencoded", origin }, 415],
    ];
    for (const [what, payload, headers, status] of refusals) {
      const res = await login(api, payload, headers);
      assert.equal(res.status, status, what);
      assert.equal(res.headers.get("set-cookie"), null, `${what}: no cookie`);
      assert.equal(res.headers.get("content-type"), "application/problem+json");
    }
    const ok = await login(api, body, { "content-type": "application/json", origin, "sec-fetch-site": "same-origin" });
    assert.equal(ok.status, 200);
    assert.match(ok.headers.get("set-cookie") ?? "", /^sh_admin=[^;]+;.*HttpOnly/);
    const scripted = await login(api, body, { "content-type": "application/json; charset=utf-8" }); // curl: neither header
    assert.equal(scripted.status, 200);
  });

  it("ends a dashboard session once its key is revoked (GET /api/admin/session answers 401)", async () => {
    const { key, id } = await api.clientFor("acme", ["admin"]);
    const res = await login(api, JSON.stringify({ key }), { "content-type": "application/json" });
    const cookie = (res.headers.get("set-cookie") ?? "").split(";")[0]!;
    const session = () => fetch(`${api.url}/api/admin/session`, { headers: { cookie } });
    assert.equal((await session()).status, 200);
    assert.equal((await api.call(`/api/v1/admin/keys/${id}`, { method: "DELETE", key: api.adminToken })).status, 204);
    const after = await session();
    assert.equal(after.status, 401);
    assert.equal(((await after.json()) as { code: string }).code, "unauthorized");
  });

  it("throttles 80 bad keys from one address (X-Forwarded-For ignored) while its valid keys still work", {
    timeout: 60_000,
  }, async () => {
    const { key: busy } = await api.clientFor("acme", ["state:read"]);
    assert.equal((await get(api, busy)).status, 404, "a key in use before the flood");
    const fresh = await api.clientFor("acme", ["state:read"]); // minted by this process, never used yet
    const admin = await api.clientFor("acme", ["admin"]);
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 80; i++) {
      // Unknown ids, malformed keys and garbage all count; a rotating X-Forwarded-For changes nothing without a trusted proxy.
      const bad = i % 3 === 0 ? randomKey() : i % 3 === 1 ? `shk_${"0".repeat(16)}_short` : `nonsense-${i}`;
      const res = await get(api, bad, { "x-forwarded-for": `203.0.113.${i}` });
      statuses.push(res.status);
      if (res.status === 429) {
        retryAfter = res.headers.get("retry-after");
        assert.equal(((await res.json()) as { code: string }).code, "rate_limited");
      } else await res.body?.cancel();
    }
    assert.ok(
      statuses.every((s) => s === 401 || s === 429),
      `only 401 and 429: ${[...new Set(statuses)]}`,
    );
    assert.equal(statuses.indexOf(429), 20, `the first 20 failures are answered 401, then 429 (${statuses.join(",")})`);
    assert.ok(statuses.slice(20).every((s) => s === 429));
    assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 60, `Retry-After ${retryAfter}`);

    // Only failures count: this address's valid keys are still answered, a used one and a fresh one.
    for (let i = 0; i < 5; i++) assert.equal((await get(api, busy)).status, 404);
    assert.equal((await get(api, fresh.key)).status, 404);
    // The admin token (35 characters here: too long to guess) still works; a short one would not (unit test).
    assert.equal((await get(api, api.adminToken)).status, 404);
    const wrongSecret = await get(api, fresh.key.slice(0, -2) + (fresh.key.endsWith("AA") ? "BB" : "AA"));
    assert.equal(wrongSecret.status, 429, "a wrong secret for a known key id is a failure like any other");
    // ... and the blocked address's login with a valid key of this process still works.
    assert.equal(
      (await login(api, JSON.stringify({ key: admin.key }), { "content-type": "application/json" })).status,
      200,
    );
  });
});

describe("authentication abuse behind a trusted proxy (STATEHOUSE_TRUST_PROXY)", () => {
  let api: ApiFixture;
  before(async () => {
    api = await startApi({ STATEHOUSE_TRUST_PROXY: "loopback" });
  });
  after(() => api?.close());

  it("throttles 40 bad logins per forwarded client address, and only that address", { timeout: 60_000 }, async () => {
    const { key: adminKey } = await api.clientFor("acme", ["admin"]);
    // The proxy (127.0.0.1, trusted) appends the address it saw; what the client wrote to the left is ignored.
    const from = (client: string, spoofed = `10.9.${Math.floor(Math.random() * 250)}.1`) => ({
      "content-type": "application/json",
      "x-forwarded-for": `${spoofed}, ${client}`,
    });
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      const res = await login(api, JSON.stringify({ key: i % 2 ? randomKey() : `wrong-${i}` }), from("198.51.100.7"));
      statuses.push(res.status);
      assert.equal(res.headers.get("set-cookie"), null);
      if (res.status === 429) assert.ok(Number(res.headers.get("retry-after")) >= 1);
      await res.body?.cancel();
    }
    assert.equal(statuses.indexOf(429), 20, statuses.join(","));
    assert.ok(statuses.slice(20).every((s) => s === 429));
    // Another client behind the same proxy is not affected by 198.51.100.7's failures.
    assert.equal((await login(api, JSON.stringify({ key: "wrong" }), from("198.51.100.8"))).status, 401);
    // The blocked client's valid key still logs in; its API calls with bad keys are refused too (one budget per address).
    assert.equal((await login(api, JSON.stringify({ key: adminKey }), from("198.51.100.7"))).status, 200);
    assert.equal((await get(api, randomKey(), { "x-forwarded-for": "198.51.100.7" })).status, 429);
    // IPv6 clients count per /64: rotating the interface id does not give a fresh budget.
    for (let i = 0; i < 25; i++)
      await (
        await get(api, randomKey(), { "x-forwarded-for": `2001:db8:1:2::${(i + 1).toString(16)}` })
      ).body?.cancel();
    assert.equal((await get(api, randomKey(), { "x-forwarded-for": "2001:db8:1:2:ffff::1" })).status, 429);
    assert.equal((await get(api, randomKey(), { "x-forwarded-for": "2001:db8:1:3::1" })).status, 401);
  });
});
