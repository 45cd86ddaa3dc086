import { randomBytes } from "node:crypto";
import { startServer } from "../../test/helpers/server";
import { type Check, QUICK, type Ratio, type Result, round3, type Scenario } from "../harness";
import { load, type LoadResult } from "./http";

const DURATION_SEC = QUICK ? 2 : 8;
const ROUNDS = QUICK ? 1 : 3;
const NOISY_LOOPS = 6;
/** The quiet tenant is a steady client: a fixed request rate, so its p99 measures waiting, not throughput. */
const QUIET_GET_RPS = 200;
const QUIET_TURN_RPS = 20;

/** Text that is slow for every NLP library and for naive e-mail patterns (README: Limits). */
const pathological = (n: number, i: number) => (i % 2 ? "a.".repeat(n / 2) : `a@${"a.".repeat(n / 2 - 2)}`).slice(0, n);

/**
 * One tenant's p99 for state GETs and agent turns while another tenant sends the heaviest requests its
 * key is allowed (at the default limits): stateless invokes and batches full of 32 000-character
 * pathological texts, JSON Patches at the operation cap, values near the namespace's size limit,
 * 100-operation transactions and 1000-key listings. Reported as the p99 under noise over the same p99
 * idle, measured in the same run. The noisy requests come from this process and the quiet ones from
 * autocannon in another, so the ratio also includes the two clients' share of the machine's 2 cores.
 */
export const noisyNeighbour: Scenario = {
  name: "noisy-neighbour",
  async run(ctx) {
    const adminToken = `bench-admin-${randomBytes(12).toString("hex")}`;
    const server = await startServer({
      DATABASE_URL: ctx.db.url,
      REDIS_URL: ctx.redis.url,
      STATEHOUSE_KEY_PREFIX: `${ctx.redis.prefix}nn:`.slice(0, 32),
      STATEHOUSE_ADMIN_TOKEN: adminToken,
      STATEHOUSE_DATA_DIR: `/tmp/${ctx.redis.prefix.replace(/[^a-z0-9_-]/gi, "")}-nn`,
      OTEL_TRACES_EXPORTER: "none",
    });
    try {
      const url = server.url;
      const mint = async (tenant: string) => {
        const res = await fetch(`${url}/api/v1/admin/keys`, {
          method: "POST",
          headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
          body: JSON.stringify({ tenant, scopes: ["state:read", "state:write", "agents:invoke"] }),
        });
        if (res.status !== 201) throw new Error(`could not mint a key for ${tenant}: ${res.status}`);
        return `Bearer ${((await res.json()) as { key: string }).key}`;
      };
      const quietAuth = await mint("bench-quiet");
      const noisyAuth = await mint("bench-noisy");
      const json = (auth: string, type = "application/json") => ({ authorization: auth, "content-type": type });

      // The quiet tenant: one 1 KiB record and a few sessions.
      await fetch(`${url}/api/v1/state/kv/q-1k`, {
        method: "PUT",
        headers: json(quietAuth),
        body: JSON.stringify({ value: { blob: "q".repeat(1000) } }),
      });
      const sessions = await Promise.all(
        Array.from(
          { length: 8 },
          async () =>
            (
              (await (
                await fetch(`${url}/api/v1/agents/assistant/sessions`, {
                  method: "POST",
                  headers: json(quietAuth),
                  body: "{}",
                })
              ).json()) as { sessionId: string }
            ).sessionId,
        ),
      );
      const quiet = [
        {
          scenario: "quiet tenant state GET 1 KiB",
          options: {
            url: `${url}/api/v1/state/kv/q-1k`,
            method: "GET",
            headers: { authorization: quietAuth },
            overallRate: QUIET_GET_RPS,
          },
        },
        {
          scenario: "quiet tenant agent turn",
          options: {
            url,
            method: "POST",
            headers: json(quietAuth),
            body: JSON.stringify({ content: "My email is ann@example.com; when is my dentist appointment?" }),
            paths: sessions.map((id) => `/api/v1/agents/assistant/sessions/${id}/messages`),
            overallRate: QUIET_TURN_RPS,
          },
        },
      ];

      // The noisy tenant's heaviest allowed requests, built once.
      const big = "n".repeat(3_900_000);
      await fetch(`${url}/api/v1/state/kv/n-big`, {
        method: "PUT",
        headers: json(noisyAuth),
        body: JSON.stringify({ value: { big } }),
      });
      await fetch(`${url}/api/v1/state/kv/n-doc`, {
        method: "PUT",
        headers: json(noisyAuth),
        body: JSON.stringify({ value: { items: [] } }),
      });
      const heavy: { name: string; method: string; path: string; type?: string; body?: string }[] = [
        {
          name: "invoke",
          method: "POST",
          path: "/api/v1/agents/assistant/invoke",
          body: JSON.stringify({
            messages: Array.from({ length: 100 }, (_, i) => ({
              role: i % 2 ? "assistant" : "user",
              content: pathological(32_000, i),
            })).concat([{ role: "user", content: pathological(32_000, 1) }]),
          }),
        },
        {
          name: "batch",
          method: "POST",
          path: "/api/v1/agents/assistant/batch",
          body: JSON.stringify({
            documents: Array.from({ length: 120 }, (_, i) => ({ id: `d${i}`, text: pathological(32_000, i) })),
          }),
        },
        {
          name: "put near the size limit",
          method: "PUT",
          path: "/api/v1/state/kv/n-big",
          body: JSON.stringify({ value: { big } }),
        },
        {
          name: "json patch, many ops",
          method: "PATCH",
          path: "/api/v1/state/kv/n-doc",
          type: "application/json-patch+json",
          body: JSON.stringify([
            { op: "replace", path: "/items", value: [] },
            ...Array.from({ length: 900 }, (_, i) => ({
              op: "add",
              path: "/items/-",
              value: { i, text: "x".repeat(64) },
            })),
          ]),
        },
        {
          name: "root-copy json patch",
          method: "PATCH",
          path: "/api/v1/state/kv/n-doc",
          type: "application/json-patch+json",
          body: JSON.stringify(Array.from({ length: 30 }, (_, i) => ({ op: "copy", from: "", path: `/c${i}` }))),
        },
        {
          name: "transaction of 100",
          method: "POST",
          path: "/api/v1/transactions",
          body: JSON.stringify({
            operations: Array.from({ length: 100 }, (_, i) => ({
              op: "put",
              namespace: "kv",
              key: `n-t${i}`,
              value: { i, pad: "p".repeat(4000) },
            })),
          }),
        },
        { name: "list 1000", method: "GET", path: "/api/v1/state/kv?limit=1000" },
        {
          name: "deep nesting",
          method: "PUT",
          path: "/api/v1/state/kv/n-deep",
          body: `{"value":${"[".repeat(20_000)}${"]".repeat(20_000)}}`,
        },
      ];
      const noisyStatuses = new Map<string, number>();
      const noise = async (until: number) => {
        let i = 0;
        await Promise.all(
          Array.from({ length: NOISY_LOOPS }, async (_, loop) => {
            while (Date.now() < until) {
              const h = heavy[(i++ + loop) % heavy.length]!;
              const status = await fetch(`${url}${h.path}`, {
                method: h.method,
                headers: json(noisyAuth, h.type),
                body: h.body,
              }).then(
                async (r) => {
                  await r.arrayBuffer();
                  return r.status;
                },
                () => 0,
              );
              const label = `${h.name} ${status}`;
              noisyStatuses.set(label, (noisyStatuses.get(label) ?? 0) + 1);
            }
          }),
        );
      };

      for (const q of quiet) await load({ ...q.options, connections: 4, durationSec: 1 }); // warm-up
      const runs = new Map<string, LoadResult[]>();
      for (let round = 0; round < ROUNDS; round++) {
        for (const q of quiet) {
          for (const condition of round % 2 ? ["noisy", "idle"] : ["idle", "noisy"]) {
            const until = Date.now() + DURATION_SEC * 1000 + 500;
            const noisy = condition === "noisy" ? noise(until) : Promise.resolve();
            if (condition === "noisy") await new Promise((r) => setTimeout(r, 500)); // the noise is under way
            const r = await load({ ...q.options, connections: 8, durationSec: DURATION_SEC });
            await noisy;
            const key = `${q.scenario}\u0000${condition}`;
            runs.set(key, [...(runs.get(key) ?? []), r]);
            console.error(
              `  ${q.scenario} (${condition}): p50 ${r.p50Ms} ms p99 ${r.p99Ms} ms, ${r.ok} 2xx, ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`,
            );
          }
        }
      }

      const results: Result[] = [];
      const ratios: Ratio[] = [];
      const checks: Check[] = [];
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      for (const q of quiet) {
        const p99 = { idle: 0, noisy: 0 };
        for (const condition of ["idle", "noisy"] as const) {
          const rs = runs.get(`${q.scenario}\u0000${condition}`)!;
          const ok = rs.reduce((n, r) => n + r.ok, 0);
          const bad = rs.reduce((n, r) => n + r.non2xx + r.errors + r.timeouts, 0);
          p99[condition] = median(rs.map((r) => r.p99Ms));
          results.push({
            scenario: q.scenario,
            variant: `while the other tenant is ${condition}`,
            concurrency: 8,
            opsPerSec: Math.round(ok / (rs.length * DURATION_SEC)),
            p50Ms: median(rs.map((r) => r.p50Ms)),
            p99Ms: p99[condition],
          });
          checks.push({
            name: `${q.scenario} (${condition}): every response 2xx`,
            ok: bad === 0,
            detail: `${bad} non-2xx, errors or timeouts`,
          });
        }
        ratios.push({
          name: `${q.scenario}: p99 with a noisy neighbour / p99 idle`,
          value: round3(p99.noisy / Math.max(p99.idle, 0.001)),
        });
      }
      const serverErrors = [...noisyStatuses].filter(([label]) => /\s(5\d\d|0)$/.test(label));
      checks.push({
        name: "the noisy tenant's heavy requests never got a 5xx or a dropped connection",
        ok: serverErrors.length === 0,
        detail: JSON.stringify(Object.fromEntries(noisyStatuses)),
      });
      return {
        results,
        ratios,
        checks,
        notes: [
          `Noisy neighbour: the quiet tenant sends ${QUIET_GET_RPS} GETs/s or ${QUIET_TURN_RPS} turns/s (autocannon, 8 connections, another process) for ${DURATION_SEC} s per round, ${ROUNDS} round(s), idle and noisy alternating; the noisy tenant runs ${NOISY_LOOPS} loops of: ${heavy.map((h) => h.name).join(", ")}. Noisy answers: ${JSON.stringify(Object.fromEntries([...noisyStatuses].sort()))}.`,
        ],
      };
    } finally {
      await server.stop();
    }
  },
};
