// 2000+ hostile requests against a real server: random bytes, malformed and deeply nested JSON, huge
// headers and bodies, path traversal and unicode in keys, wrong methods and content types, bad and
// revoked keys. None may get a 5xx, the server must stay up, and no state may change.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { before, describe, it } from "node:test";
import pg from "pg";
import { apiSuite, rateLimitEnv } from "../helpers/api";
import { prng } from "../helpers/random";

interface Hostile {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  label: string;
}

describe("fuzzing the API", () => {
  const suite = apiSuite({
    env: { ...rateLimitEnv({ rps: 100_000, burst: 100_000 }), STATEHOUSE_MAX_BODY_BYTES: String(1024 * 1024) },
    keys: { key: "fuzz", readOnlyKey: { tenant: "fuzz", scopes: ["state:read"] } },
  });
  let revokedKey: string;

  before(async () => {
    const revoked = await suite.api.clientFor("fuzz");
    revokedKey = revoked.key;
    await suite.api.admin.DELETE("/api/v1/admin/keys/{id}", { params: { path: { id: revoked.id } } });
    // Some state that must come through untouched.
    for (const k of ["a", "b", "nested/key", "ключ"])
      await suite.api.send("PUT", `/api/v1/state/kv/${encodeURIComponent(k)}`, { value: { k } }, { key: suite.key });
  });

  async function snapshot(): Promise<string> {
    const c = new pg.Client({ connectionString: suite.api.db.url });
    await c.connect();
    try {
      const records = await c.query(
        `SELECT tenant, namespace, key, version, value::text AS value, deleted FROM state_records ORDER BY 1, 2, 3`,
      );
      const history = await c.query(`SELECT count(*)::int AS n FROM state_history`);
      const outbox = await c.query(`SELECT count(*)::int AS n FROM outbox_events`);
      const keys = await c.query(`SELECT id, revoked_at FROM api_keys ORDER BY id`);
      return JSON.stringify({ records: records.rows, history: history.rows, outbox: outbox.rows, keys: keys.rows });
    } finally {
      await c.end();
    }
  }

  function generate(rand: () => number, n: number): Hostile[] {
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const deep = (depth: number) => "[".repeat(depth) + "]".repeat(depth);
    const deepObject = (depth: number) => `{"value":${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}`;
    const bytes = (len: number) => randomBytes(len);
    const keys = [
      "..",
      "../../etc/passwd",
      "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
      "%00",
      "a%00b",
      "%ff%fe",
      "%",
      "%zz",
      "%E0%A4%A",
      "🔑".repeat(200),
      encodeURIComponent("x".repeat(600)),
      "%0d%0aSet-Cookie:%20x=1",
      "<script>alert(1)</script>",
      "'; DROP TABLE state_records; --",
      "\u202e",
      "%C0%AF",
    ];
    const namespaces = ["kv", "sessions", "nope", "..", "KV", "idempotency", "%00", "a".repeat(100), "workflows"];
    const methods = ["GET", "PUT", "PATCH", "DELETE", "POST", "OPTIONS", "HEAD", "PROPFIND", "PURGE"]; // fetch refuses TRACE/CONNECT
    const contentTypes = [
      "application/json",
      "text/plain",
      "application/xml",
      "application/merge-patch+json",
      "application/json-patch+json",
      "multipart/form-data; boundary=x",
      "",
      "application/json; charset=utf-16",
    ];
    const badAuth = (): Record<string, string> =>
      pick<Record<string, string>>([
        {},
        { authorization: "Bearer" },
        { authorization: `Bearer ${"A".repeat(600)}` },
        { authorization: `Bearer ${revokedKey}` },
        { authorization: `Bearer ${suite.key.slice(0, -1)}x` },
        { authorization: "Basic Zm9vOmJhcg==" },
        { authorization: `Bearer ${suite.key}${suite.key}` },
        { authorization: `bearer shk_zzzzzzzzzzzzzzzz_${"a".repeat(43)}` },
      ]);
    const invalidBodies = () =>
      pick<string | Uint8Array>([
        bytes(Math.floor(rand() * 512)),
        "{",
        '{"value":',
        "null",
        "[]",
        '{"value":1,"ttlSeconds":-1}',
        '{"value":1,"ttlSeconds":"soon"}',
        '{"value":1,"ttlSeconds":1e309}',
        '{"novalue":true}',
        deep(5000),
        deep(100000),
        deepObject(2000),
        '{"value":"\\ud800"}x',
        "\u0000\u0001\u0002",
        '{"value": NaN}',
        '{"operations":[{"op":"put","namespace":"kv","key":"a"}]}',
        '{"operations":"all"}',
        '{"content":""}',
        "x".repeat(2 * 1024 * 1024),
      ]);
    const out: Hostile[] = [];
    for (let i = 0; i < n; i++) {
      const kind = Math.floor(rand() * 10);
      const ns = pick(namespaces);
      const k = pick(keys);
      const statePath = `/api/v1/state/${ns}/${k}`;
      switch (kind) {
        case 0: // a valid-looking write with a bad, revoked or missing key
          out.push({
            label: "bad key",
            method: pick(["PUT", "PATCH", "DELETE"]),
            path: `/api/v1/state/kv/${pick(["a", "b"])}`,
            headers: { ...badAuth(), "content-type": "application/json" },
            body: '{"value":"pwned"}',
          });
          break;
        case 1: // a good key with an invalid body
          // (a PATCH body that happens to be a valid merge patch would rightly apply: patches go to a key that does not exist)
          out.push(
            rand() < 0.7
              ? {
                  label: "invalid body",
                  method: "PUT",
                  path: `/api/v1/state/kv/${pick(["a", "b", "fresh"])}`,
                  headers: { authorization: `Bearer ${suite.key}`, "content-type": pick(contentTypes) },
                  body: invalidBodies(),
                }
              : {
                  label: "invalid patch",
                  method: "PATCH",
                  path: "/api/v1/state/kv/fresh",
                  headers: { authorization: `Bearer ${suite.key}`, "content-type": pick(contentTypes) },
                  body: invalidBodies(),
                },
          );
          break;
        case 2: // hostile keys and namespaces in the path
          out.push({
            label: "hostile path",
            method: pick(["GET", "DELETE", "PUT"]),
            path: statePath,
            headers: { authorization: `Bearer ${suite.key}`, "content-type": "application/json", "if-match": '"999"' },
            body: '{"value":1}',
          });
          break;
        case 3: // wrong methods
          out.push({
            label: "wrong method",
            method: pick(methods),
            path: pick([
              "/api/v1/transactions",
              "/api/v1/namespaces",
              "/api/v1/admin/keys/x",
              "/api/v1/openapi.json",
              "/api/ready",
            ]),
            headers: { authorization: `Bearer ${suite.key}` },
          });
          break;
        case 4: // huge headers
          out.push({
            label: "huge header",
            method: "GET",
            path: "/api/v1/state/kv/a",
            headers: {
              authorization: `Bearer ${suite.key}`,
              "x-junk": "j".repeat(Math.floor(rand() * 40_000)),
              "if-none-match": "*".repeat(1000),
            },
          });
          break;
        case 5: // a read-only key trying to write; a full key writing without the precondition a namespace requires
          out.push(
            rand() < 0.5
              ? {
                  label: "scope",
                  method: pick(["PUT", "DELETE", "PATCH"]),
                  path: "/api/v1/state/kv/a",
                  headers: { authorization: `Bearer ${suite.readOnlyKey}`, "content-type": "application/json" },
                  body: pick(['{"value":1}', "{", "[]"]),
                }
              : {
                  label: "precondition",
                  method: pick(["PUT", "DELETE", "PATCH"]),
                  path: "/api/v1/state/workflows/w",
                  headers: {
                    authorization: `Bearer ${suite.key}`,
                    "content-type": pick(["application/json", "application/merge-patch+json"]),
                  },
                  body: '{"value":1}',
                },
          );
          break;
        case 6: // transactions that are malformed or conflict
          out.push({
            label: "transaction",
            method: "POST",
            path: "/api/v1/transactions",
            headers: { authorization: `Bearer ${suite.key}`, "content-type": pick(["application/json", "text/plain"]) },
            body: pick([
              invalidBodies(),
              JSON.stringify({
                operations: [
                  { op: "delete", namespace: "kv", key: "a" },
                  { op: "put", namespace: "kv", key: "b", value: 1, ifMatch: '"999"' },
                ],
              }),
              JSON.stringify({ operations: [{ op: "put", namespace: "nope", key: "a", value: 1 }] }),
              JSON.stringify({
                operations: Array.from({ length: 101 }, () => ({ op: "delete", namespace: "kv", key: "a" })),
              }),
              JSON.stringify({ operations: [{ op: "put", namespace: "kv", key: "", value: 1 }] }),
            ]),
          });
          break;
        case 7: // queries with garbage
          out.push({
            label: "query",
            method: "GET",
            path: `/api/v1/state/${pick(["kv", "nope"])}?limit=${pick(["-1", "0", "abc", "1e9", "%00", "5"])}&cursor=${pick(["%%%", "////", "AAAA", encodeURIComponent("\u0000"), ""])}&prefix=${pick(["%00", "..", "a", "x".repeat(600)])}`,
            headers: { authorization: `Bearer ${suite.key}` },
          });
          break;
        case 8: // agent routes with junk
          out.push({
            label: "agents",
            method: pick(["POST", "GET", "DELETE"]),
            path: `/api/v1/agents/${pick(["assistant", "nobody", "..", "%00"])}/sessions/${pick(["x", "00000000-0000-0000-0000-000000000000", "..", "%ff"])}${pick(["", "/messages"])}`,
            headers: { authorization: `Bearer ${suite.key}`, "content-type": pick(contentTypes) },
            body: pick(['{"content":""}', '{"content":1}', invalidBodies() as string]),
          });
          break;
        default: // admin routes with a non-admin key, or bad bodies with the admin token
          out.push({
            label: "admin",
            method: pick(["POST", "GET", "DELETE"]),
            path: pick(["/api/v1/admin/keys", "/api/v1/admin/keys/zz", "/api/v1/admin/keys/ffffffffffffffff"]),
            headers: {
              authorization: `Bearer ${pick([suite.key, suite.api.adminToken])}`,
              "content-type": "application/json",
            },
            body: pick([
              '{"tenant":"Bad!","scopes":["state:read"]}',
              '{"tenant":"t","scopes":[]}',
              '{"tenant":"t","scopes":["root"]}',
              "{",
            ]),
          });
      }
    }
    return out;
  }

  it("2000+ hostile requests: zero 5xx, the server stays up, no state changes", { timeout: 300_000 }, async (t) => {
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
    t.diagnostic(`FUZZ_SEED=${seed}`);
    const before = await snapshot();
    const requests = generate(prng(seed), 2100);
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    let next = 0;
    const worker = async () => {
      while (next < requests.length) {
        const r = requests[next++]!;
        try {
          const res = await fetch(`${suite.api.url}${r.path}`, {
            method: r.method,
            headers: r.headers,
            body: r.method === "GET" || r.method === "HEAD" ? undefined : (r.body as BodyInit | undefined),
          });
          const text = await res.text();
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          if (res.status >= 500)
            failures.push(`${res.status} ${r.label} ${r.method} ${r.path.slice(0, 120)}: ${text.slice(0, 200)}`);
          if (/at \S+\.(ts|js):\d+/.test(text))
            failures.push(`stack trace in body: ${r.label} ${r.method} ${r.path.slice(0, 80)}`);
        } catch (err) {
          // A connection the server closes (e.g. over its header limit) is a refusal, not a crash: checked below.
          statuses.set(0, (statuses.get(0) ?? 0) + 1);
          if (
            !/fetch failed|other side closed|UND_ERR|ECONNRESET|HeadersOverflow/i.test(
              String((err as Error).cause ?? err),
            )
          )
            failures.push(`${r.label}: ${String(err)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));

    // Raw garbage on the socket: not even HTTP.
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve) => {
        const sock = connect(suite.api.server.port, "127.0.0.1", () => sock.end(randomBytes(200 + i * 50)));
        sock.on("error", () => resolve());
        sock.on("close", () => resolve());
        sock.resume();
      });
    }

    t.diagnostic(`statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
    assert.deepEqual(failures.slice(0, 20), []);
    assert.equal(requests.length >= 2000, true);
    assert.equal(suite.api.server.process.exitCode, null, "the server is still running");
    assert.equal((await fetch(`${suite.api.url}/api/health`)).status, 200);
    assert.equal(await snapshot(), before, "no state changed");
    const stillThere = await suite.api.call("/api/v1/state/kv/a", { key: suite.key });
    assert.deepEqual(((await stillThere.json()) as { value: unknown }).value, { k: "a" });
  });
});
