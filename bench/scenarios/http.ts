import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import path from "node:path";
import { startServer } from "../../test/helpers/server";
import { freePort } from "../../test/helpers/redis-server";
import { type Check, QUICK, type Ratio, type Result, round3, type Scenario, withTarget } from "../harness";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CONNECTIONS = 32;
const SESSIONS = 32;
const DURATION_SEC = QUICK ? 1 : 5;
const ROUNDS = QUICK ? 1 : 3;

interface Target {
  name: string;
  url: string;
  statePath: string;
  turnPath: (sessionId: string) => string;
  headers: Record<string, string>;
  sessionPaths: string[];
  stop(): Promise<void>;
}

export interface LoadResult {
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

/** Runs bench/load.ts (autocannon) in its own process against `url`. */
export function load(options: Record<string, unknown>): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(ROOT, "bench/load.ts"), JSON.stringify(options)],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (err += c.toString("utf8")));
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split("\n").pop()!))
        : reject(new Error(`load generator exited with ${code}: ${err}`)),
    );
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
    setTimeout(() => child.kill("SIGKILL"), 5000).unref();
  });
}

async function waitFor(url: string, init?: RequestInit): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (
      await fetch(url, init).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not come up`);
}

// The HTTP state GET and an agent turn, with load from a second process (autocannon), through
// (a) Statehouse's own server (server/main.ts: auth, rate limit, validation, telemetry all on),
// (b) the same engine calls behind a bare node:http server, (c) the app/api mount under `next start`.
export const http: Scenario = {
  name: "http",
  async run(ctx) {
    const adminToken = `bench-admin-${randomBytes(12).toString("hex")}`;
    // Rate limiting stays on (every request takes a token from Redis) with a limit the load cannot reach.
    const env = {
      DATABASE_URL: ctx.db.url,
      REDIS_URL: ctx.redis.url,
      STATEHOUSE_KEY_PREFIX: ctx.redis.prefix.slice(0, 32),
      STATEHOUSE_ADMIN_TOKEN: adminToken,
      STATEHOUSE_DATA_DIR: `/tmp/${ctx.redis.prefix.replace(/[^a-z0-9_-]/gi, "")}`,
      STATEHOUSE_RATE_LIMIT_RPS: "1000000",
      STATEHOUSE_RATE_LIMIT_BURST: "1000000",
      OTEL_TRACES_EXPORTER: "none",
      NEXT_TELEMETRY_DISABLED: "1",
    };
    const auth = { authorization: `Bearer ${adminToken}`, "content-type": "application/json" };
    const targets: Target[] = [];
    const checks: Check[] = [];
    try {
      const own = await startServer(env);
      const sessionsVia = async (
        url: string,
        create: string,
        headers: Record<string, string>,
        turnPath: (id: string) => string,
      ) => {
        const ids = await Promise.all(
          Array.from(
            { length: SESSIONS },
            async () =>
              (
                (await (await fetch(`${url}${create}`, { method: "POST", headers, body: "{}" })).json()) as {
                  sessionId: string;
                }
              ).sessionId,
          ),
        );
        return ids.map(turnPath);
      };
      const apiTurn = (id: string) => `/api/v1/agents/assistant/sessions/${id}/messages`;
      await fetch(`${own.url}/api/v1/state/kv/http-1k`, {
        method: "PUT",
        headers: auth,
        body: JSON.stringify({ value: { blob: "h".repeat(1024 - 12) } }),
      });
      targets.push({
        name: "statehouse server (auth, rate limit, validation, telemetry)",
        url: own.url,
        statePath: "/api/v1/state/kv/http-1k",
        turnPath: apiTurn,
        headers: auth,
        sessionPaths: await sessionsVia(own.url, "/api/v1/agents/assistant/sessions", auth, apiTurn),
        stop: () => own.stop(),
      });

      const bare = spawn(process.execPath, ["--import", "tsx", "bench/servers/bare-http.ts"], {
        cwd: ROOT,
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "inherit"],
      });
      const barePort = await new Promise<number>((resolve, reject) => {
        bare.stdout!.on("data", (c: Buffer) => {
          const m = /"listening":(\d+)/.exec(c.toString("utf8"));
          if (m) resolve(Number(m[1]));
        });
        bare.once("exit", (code) => reject(new Error(`bare server exited with ${code}`)));
      });
      const bareUrl = `http://127.0.0.1:${barePort}`;
      const bareTurn = (id: string) => `/sessions/${id}/messages`;
      targets.push({
        name: "bare node:http, same engine calls",
        url: bareUrl,
        statePath: "/state/kv/http-1k",
        turnPath: bareTurn,
        headers: { "content-type": "application/json" },
        sessionPaths: await sessionsVia(bareUrl, "/sessions", {}, bareTurn),
        stop: () => stopChild(bare),
      });

      // Quick mode (CI) leaves out next start: its start-up alone would take a third of the time budget.
      if (!QUICK && existsSync(path.join(ROOT, ".next", "BUILD_ID"))) {
        const port = await freePort();
        const next = spawn(
          process.execPath,
          [path.join(ROOT, "node_modules/next/dist/bin/next"), "start", "-p", String(port), "-H", "127.0.0.1"],
          { cwd: ROOT, env: { ...process.env, ...env }, stdio: "ignore" },
        );
        const nextUrl = `http://127.0.0.1:${port}`;
        targets.push({
          name: "app/api mount under next start",
          url: nextUrl,
          statePath: "/api/v1/state/kv/http-1k",
          turnPath: apiTurn,
          headers: auth,
          sessionPaths: [],
          stop: () => stopChild(next),
        });
        await waitFor(`${nextUrl}/api/health`);
        targets.at(-1)!.sessionPaths = await sessionsVia(nextUrl, "/api/v1/agents/assistant/sessions", auth, apiTurn);
      } else if (!QUICK) {
        checks.push({
          name: "the Next.js build exists for the next start comparison (npm run build)",
          ok: false,
          detail: ".next/BUILD_ID missing",
        });
      }

      const kinds = [
        {
          scenario: "HTTP state GET 1 KiB",
          request: (t: Target) => ({ url: `${t.url}${t.statePath}`, method: "GET", headers: t.headers }),
        },
        {
          scenario: "HTTP agent turn",
          request: (t: Target) => ({
            url: t.url,
            method: "POST",
            headers: t.headers,
            body: JSON.stringify({ content: "Where is my order 1234? My email is ann@example.com" }),
            paths: t.sessionPaths,
          }),
        },
      ];
      const acc = new Map<string, { requests: number; sec: number; p50: number[]; p99: number[]; bad: number }>();
      for (const t of targets) for (const k of kinds) await load({ ...k.request(t), connections: 4, durationSec: 1 }); // warm-up: JIT, pools, caches
      for (let round = 0; round < ROUNDS; round++) {
        for (const k of kinds) {
          for (const t of round % 2 ? [...targets].reverse() : targets) {
            const r = await load({ ...k.request(t), connections: CONNECTIONS, durationSec: DURATION_SEC });
            const key = `${k.scenario}\u0000${t.name}`;
            const a = acc.get(key) ?? { requests: 0, sec: 0, p50: [], p99: [], bad: 0 };
            a.requests += r.ok;
            a.sec += DURATION_SEC;
            a.p50.push(r.p50Ms);
            a.p99.push(r.p99Ms);
            a.bad += r.non2xx + r.errors + r.timeouts;
            acc.set(key, a);
            console.error(
              `  ${k.scenario} ${t.name}: ${Math.round(r.ok / DURATION_SEC)} req/s (2xx) p50 ${r.p50Ms} ms p99 ${r.p99Ms} ms, ${r.non2xx} non-2xx, ${r.errors} errors`,
            );
          }
        }
      }
      const results: Result[] = [];
      for (const k of kinds) {
        for (const t of targets) {
          const a = acc.get(`${k.scenario}\u0000${t.name}`)!;
          // Latency percentiles: the median over the rounds of autocannon's per-run percentiles.
          const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
          results.push({
            scenario: k.scenario,
            variant: t.name,
            concurrency: CONNECTIONS,
            opsPerSec: Math.round(a.requests / a.sec),
            p50Ms: median(a.p50),
            p99Ms: median(a.p99),
          });
          checks.push({
            name: `${k.scenario} via ${t.name}: every response 2xx`,
            ok: a.bad === 0,
            detail: `${a.bad} non-2xx, errors or timeouts`,
          });
        }
      }
      const rps = (scenario: string, i: number) =>
        results.find((r) => r.scenario === scenario && r.variant === targets[i]?.name)?.opsPerSec;
      const ratios: Ratio[] = [];
      for (const k of kinds) {
        const [own, bare, viaNext] = [rps(k.scenario, 0)!, rps(k.scenario, 1)!, rps(k.scenario, 2)];
        ratios.push(
          withTarget({
            name: `${k.scenario}: statehouse server / bare node:http`,
            value: round3(own / bare),
            target: k.scenario.includes("GET") ? 0.5 : undefined,
          }),
        );
        if (viaNext !== undefined)
          ratios.push({ name: `${k.scenario}: next start mount / bare node:http`, value: round3(viaNext / bare) });
      }
      return {
        results,
        ratios,
        checks,
        notes: [
          `HTTP: ${CONNECTIONS} connections from autocannon in a separate process, ${ROUNDS} rounds of ${DURATION_SEC} s per target, alternating; agent turns spread over ${SESSIONS} sessions per target.`,
        ],
      };
    } finally {
      await Promise.allSettled(targets.map((t) => t.stop()));
    }
  },
};
