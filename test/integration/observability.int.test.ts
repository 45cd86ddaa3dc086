// grafana/ as SREs will load it: rule files checked and unit-tested by promtool, generated files in
// sync, and every dashboard query and alert expression sent to a real Prometheus that scrapes a real
// Statehouse under mixed traffic — all must parse, and every panel query must return data.
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { allQueries, DASHBOARDS, generatedGrafanaFiles, prometheusRules } from "../../grafana/generate";
import { apiSuite, withApi } from "../helpers/api";
import { withOtlpReceiver } from "../helpers/otlp-receiver";
import { docPages, readPage } from "../helpers/docs";
import { freePort } from "../helpers/redis-server";

const ROOT = path.resolve(import.meta.dirname, "../..");

describe("grafana/ files", () => {
  it("promtool checks the rules and runs their unit tests (every alert once firing, once quiet)", () => {
    const check = execFileSync("promtool", ["check", "rules", "grafana/prometheus/statehouse-rules.yml"], {
      cwd: ROOT,
      encoding: "utf8",
    });
    assert.match(check, /SUCCESS: 16 rules found/);
    const out = execFileSync("promtool", ["test", "rules", "grafana/prometheus/statehouse-rules.test.yml"], {
      cwd: ROOT,
      encoding: "utf8",
    });
    assert.match(out, /SUCCESS/);
    const tests = readFileSyncText("grafana/prometheus/statehouse-rules.test.yml");
    const alerts = prometheusRules()
      .groups.flatMap((g) => g.rules)
      .filter((r) => r.alert)
      .map((r) => r.alert!);
    for (const alert of alerts) {
      const cases = [...tests.matchAll(new RegExp(`alertname: ${alert}\\n\\s+exp_alerts:(.*)`, "g"))].map((m) =>
        m[1]!.trim(),
      );
      assert.ok(cases.includes("[]"), `${alert} has a test where it stays quiet`);
      assert.ok(cases.includes(""), `${alert} has a test where it fires`);
    }
    execFileSync("promtool", ["check", "config", "grafana/prometheus/prometheus.yml"], { cwd: ROOT });
  });

  it("the dashboard's in-process alerts are exactly the rules' alerts", async () => {
    const { evaluateAlerts } = await import("../../server/telemetry/alerts");
    const { TimeSeriesStore } = await import("../../server/telemetry/time-series");
    const inProcess = evaluateAlerts({
      series: new TimeSeriesStore(),
      circuits: [],
      stores: [],
      outboxLagSeconds: null,
      quotas: new Map(),
    });
    const rules = prometheusRules()
      .groups.flatMap((g) => g.rules)
      .filter((r) => r.alert);
    assert.deepEqual(inProcess.map((a) => a.alert).sort(), rules.map((r) => r.alert!).sort());
    for (const a of inProcess)
      assert.equal(a.severity, rules.find((r) => r.alert === a.alert)!.labels!.severity, a.alert);
  });

  it("every alert has severity, summary, description and a runbook_url that exists in the runbook", async () => {
    const runbook = await readFile(path.join(ROOT, "grafana/runbook.md"), "utf8");
    const anchors = new Set([...runbook.matchAll(/^## (\S+)/gm)].map((m) => m[1]!.toLowerCase()));
    for (const rule of prometheusRules()
      .groups.flatMap((g) => g.rules)
      .filter((r) => r.alert)) {
      assert.match(rule.labels?.severity ?? "", /^(warning|critical)$/, rule.alert);
      assert.ok(rule.annotations?.summary && rule.annotations.description, rule.alert);
      const anchor = /^grafana\/runbook\.md#(.+)$/.exec(rule.annotations?.runbook_url ?? "")?.[1];
      assert.ok(anchor && anchors.has(anchor), `${rule.alert}: runbook anchor ${anchor}`);
    }
  });

  it("dashboards use the classic model with fixed uids and a datasource variable; generated files are committed as generated", async () => {
    for (const [file, content] of Object.entries(generatedGrafanaFiles())) {
      assert.equal(
        await readFile(path.join(ROOT, file), "utf8"),
        content,
        `${file} is stale: run npm run grafana:generate`,
      );
    }
    for (const d of Object.values(DASHBOARDS)) {
      assert.match(d.uid, /^statehouse-/);
      assert.equal((d.templating.list[0] as { type: string }).type, "datasource");
      for (const p of d.panels) {
        assert.equal(p.datasource.uid, "$" + "{datasource}"); // Grafana's template variable, literally
        assert.ok(p.fieldConfig.defaults.unit, `${p.title} has a unit`);
      }
    }
  });
});

function readFileSyncText(rel: string): string {
  return execFileSync("cat", [rel], { cwd: ROOT, encoding: "utf8" });
}

describe("every dashboard query against a real Prometheus scraping Statehouse", () => {
  const suite = apiSuite({ env: { STATEHOUSE_STATS_INTERVAL_MS: "1000" } });
  let prom: ChildProcess | undefined;
  let promUrl: string;
  let dir: string | undefined;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "sh-prom-"));
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    await writeFile(
      path.join(dir, "prometheus.yml"),
      [
        "global:",
        "  scrape_interval: 1s",
        "  evaluation_interval: 1s",
        "rule_files:",
        `  - ${path.join(ROOT, "grafana/prometheus/statehouse-rules.yml")}`,
        "scrape_configs:",
        "  - job_name: statehouse",
        "    static_configs:",
        `      - targets: ["127.0.0.1:${suite.api.server.port}"]`,
      ].join("\n"),
    );
    prom = spawn(
      "prometheus",
      [
        `--config.file=${path.join(dir, "prometheus.yml")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        `--storage.tsdb.path=${path.join(dir, "data")}`,
      ],
      { stdio: "ignore" },
    );
    for (let i = 0; i < 100; i++) {
      if (
        await fetch(`${promUrl}/-/ready`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      await new Promise((r) => setTimeout(r, 200));
    }
  });
  after(async () => {
    prom?.kill("SIGTERM");
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function query(expr: string): Promise<{ status: string; error?: string; data?: { result: unknown[] } }> {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    return (await res.json()) as { status: string; error?: string; data?: { result: unknown[] } };
  }

  it("all parse, and every panel query returns data after mixed traffic", { timeout: 180_000 }, async () => {
    const { key } = await suite.api.clientFor("acme");
    const statuses: Record<string, number> = {};
    const call = (p: string, init: RequestInit = {}) =>
      suite.api.call(p, { ...init, key }).then((r) => {
        statuses[`${init.method ?? "GET"} ${r.status}`] = (statuses[`${init.method ?? "GET"} ${r.status}`] ?? 0) + 1;
        return r.body?.cancel();
      });
    const json = (method: string, value: unknown, headers: Record<string, string> = {}) => ({
      method,
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(value),
    });
    // Traffic over several scrapes: hits, misses, conflicts, errors, lifecycle events, agent turns.
    const session = (await (
      await suite.api.call("/api/v1/agents/assistant/sessions", { method: "POST", key })
    ).json()) as {
      sessionId: string;
    };
    // Long-term memory: an agent that keeps it, its user's session, memories added and searched.
    const memoryKey = (
      await suite.api.clientFor("acme", ["memories:read", "memories:write", "agents:manage", "agents:invoke"])
    ).key;
    await suite.api.send("PUT", "/api/v1/agents/concierge", { memory: { longTerm: true } }, { key: memoryKey });
    const remembering = (await (
      await suite.api.send("POST", "/api/v1/agents/concierge/sessions", { userId: "ada" }, { key: memoryKey })
    ).json()) as { sessionId: string };
    const memoryCall = (p: string, body: unknown) =>
      suite.api.send("POST", p, body, { key: memoryKey }).then((r) => r.body?.cancel());
    for (let round = 0; round < 8; round++) {
      await memoryCall("/api/v1/memories", { userId: "ada", text: `Ada's fact number ${round} is about tea` });
      await memoryCall("/api/v1/memories/search", { userId: "ada", query: "what about tea" });
      await memoryCall(`/api/v1/agents/concierge/sessions/${remembering.sessionId}/messages`, {
        content: `My favourite colour is shade ${round} and I like tea.`,
      });
      for (let i = 0; i < 10; i++) {
        await call(`/api/v1/state/kv/k${i}`, json("PUT", { value: { round, i, pad: "x".repeat(200 * i) } }));
        await call(`/api/v1/state/kv/k${i}`);
        await call(`/api/v1/state/kv/missing-${round}-${i}`);
        await call(`/api/v1/state/kv/k${i}`, json("PUT", { value: { stale: true } }, { "if-match": '"1"' }));
      }
      await call("/api/v1/state/kv/k1?consistency=strong");
      await call("/api/v1/state/ratelimits/big", json("PUT", { value: "r".repeat(2000) }));
      await call("/api/v1/state/kv/huge", json("PUT", { value: "h".repeat(1_100_000) }));
      await call("/api/v1/state/sessions/not-json", {
        method: "PUT",
        headers: { "content-type": "text/plain" },
        body: "x",
      });
      await call(
        `/api/v1/agents/assistant/sessions/${session.sessionId}/messages`,
        json("POST", { content: `my email is r${round}@example.com` }),
      );
      await call(
        "/api/v1/transactions",
        json("POST", { operations: [{ op: "put", namespace: "kv", key: "tx", value: round }] }),
      );
      await new Promise((r) => setTimeout(r, 1000));
    }
    // Let Prometheus scrape the last of it and evaluate the rules.
    await new Promise((r) => setTimeout(r, 3000));

    for (const expected of ["PUT 200", "PUT 201", "PUT 412", "GET 200", "GET 404", "PUT 415", "POST 200"])
      assert.ok(statuses[expected], `traffic included ${expected}: ${JSON.stringify(statuses)}`);
    const { panels, rules } = allQueries();
    const failures: string[] = [];
    for (const q of [...panels, ...rules]) {
      const res = await query(q.expr);
      if (res.status !== "success") failures.push(`${q.source}: does not parse: ${res.error}`);
    }
    for (const q of panels) {
      const res = await query(q.expr);
      if (res.status === "success" && res.data!.result.length === 0)
        failures.push(`${q.source}: no data for ${q.expr}`);
    }
    // The memory panels fall back to 0 on a quiet deployment: here, their series must be there for real.
    for (const series of [
      'statehouse_state_keys{namespace="memories",tier="warm"}',
      'statehouse_memory_search_duration_count{target="memories"}',
      "statehouse_memory_extraction_duration_count",
      'statehouse_memory_recalls_total{result="used"}',
    ]) {
      const res = await query(series);
      if (res.status !== "success" || res.data!.result.length === 0) failures.push(`no series ${series}`);
    }
    assert.deepEqual(failures, []);
    assert.ok(panels.length >= 25, `${panels.length} panel queries`);
  });

  it("docs/observability.md lists every metric name /metrics exports, and no page names another", async () => {
    const text = await (await suite.api.call("/metrics")).text();
    const names = [...new Set([...text.matchAll(/^# TYPE (\S+) (\S+)/gm)].map((m) => m[1]!))];
    assert.ok(names.length >= 14, names.join(", "));
    const metricsPage = readPage("docs/observability.md");
    const missing = names.filter((n) => !metricsPage.includes(`\`${n}\``));
    assert.deepEqual(missing, [], "docs/observability.md names every exported metric");
    // …and the README and every docs page name only metrics that exist (a histogram by its base name, as its
    // # TYPE line has it).
    const everyPage = docPages().map(readPage).join("\n");
    const named = [
      ...new Set(
        [...everyPage.matchAll(/`(statehouse_[a-z_]+?)(?:_bucket|_sum|_count)?(?:\{[^`]*)?`/g)].map((m) => m[1]!),
      ),
    ];
    // Instruments this scrape has no data for yet (e.g. workflow resumes) count when the code declares them.
    const declared = new Set<string>();
    for (const file of execFileSync(
      "grep",
      [
        "-rlE",
        '(createCounter|createHistogram|createObservableGauge|counter|histogram|gauge)\\((meter, )?"statehouse\\.',
        "server",
      ],
      { cwd: ROOT, encoding: "utf8" },
    )
      .split("\n")
      .filter(Boolean)) {
      const source = await readFile(path.join(ROOT, file), "utf8");
      for (const m of source.matchAll(
        /(createCounter|createHistogram|createObservableGauge|counter|histogram|gauge)\((?:meter, )?"(statehouse\.[a-z_.]+)"/g,
      )) {
        declared.add(m[2]!.replace(/\./g, "_") + (/counter/i.test(m[1]!) ? "_total" : ""));
      }
    }
    const unknown = named.filter((n) => !names.includes(n) && !declared.has(n));
    assert.deepEqual(unknown, [], "the README and docs/ name only metrics /metrics exports");
    assert.doesNotMatch(text, /acme|tenant=|key="/, "no tenant or key in any series");
  });
});

describe("/metrics protection", () => {
  it("requires the bearer METRICS_TOKEN when it is set", async () => {
    await withApi({ METRICS_TOKEN: "scrape-secret-123" }, async (api) => {
      const denied = await api.call("/metrics");
      assert.equal(denied.status, 401);
      assert.equal(denied.headers.get("content-type"), "application/problem+json");
      assert.equal((await api.call("/metrics", { headers: { authorization: "Bearer wrong" } })).status, 401);
      const ok = await api.call("/metrics", { headers: { authorization: "Bearer scrape-secret-123" } });
      assert.equal(ok.status, 200);
      assert.match(ok.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
      assert.match(await ok.text(), /statehouse_store_up/);
    });
  });
});

describe("traces over OTLP", () => {
  it("exports a request span with a child span per state operation and per tier, sharing the trace id problem bodies show", async () => {
    await withOtlpReceiver((collector) =>
      withApi(
        {
          ...collector.env,
          OTEL_BSP_SCHEDULE_DELAY: "100",
          OTEL_RESOURCE_ATTRIBUTES: "deployment.environment.name=int-test,service.namespace=agents",
        },
        async (api) => {
          const { key } = await api.clientFor("acme");
          await api.send("PUT", "/api/v1/state/kv/traced", { value: 1 }, { key });
          const miss = await api.call("/api/v1/state/kv/absent", { key });
          const problem = (await miss.json()) as { traceId: string };
          assert.match(problem.traceId, /^[0-9a-f]{32}$/);
          for (
            let i = 0;
            // every span of the trace, the request's last: it ends after its children, in a later export batch
            i < 100 &&
            !["statehouse.warm.get", "statehouse.state.get", "GET /api/v1/state/{ns}/{key}"].every((name) =>
              collector.spans().some((s) => s.traceId === problem.traceId && s.name === name),
            );
            i++
          ) {
            await new Promise((r) => setTimeout(r, 100));
          }
          const trace = collector.spans().filter((s) => s.traceId === problem.traceId);
          const byName = new Map(trace.map((s) => [s.name, s]));
          const root = byName.get("GET /api/v1/state/{ns}/{key}");
          const op = byName.get("statehouse.state.get");
          assert.ok(root && op, `spans: ${[...byName.keys()].join(", ")}`);
          assert.equal(op.parentSpanId, root.spanId, "the state operation is a child of the request");
          for (const tier of ["statehouse.hot.get", "statehouse.warm.get"]) {
            assert.equal(byName.get(tier)?.parentSpanId, op.spanId, `${tier} is a child of the state operation`);
          }
          // The resource the SDK read from OTEL_RESOURCE_ATTRIBUTES, on the spans and in /metrics' target_info.
          const resource = collector.resources()[0]!;
          assert.equal(resource["deployment.environment.name"], "int-test");
          assert.equal(resource["service.name"], "statehouse");
          const info = /^target_info\{(.*)\} 1$/m.exec(await (await api.call("/metrics")).text())?.[1] ?? "";
          assert.match(info, /deployment_environment_name="int-test"/);
          assert.match(info, /service_namespace="agents"/);
          assert.match(info, /service_name="statehouse"/);
        },
      ),
    );
  });
});

describe("OTEL_SDK_DISABLED=true", () => {
  it("serves the API with no-op telemetry: /metrics answers 200 with an empty exposition, problems carry no trace id", async () => {
    await withApi({ OTEL_SDK_DISABLED: "true" }, async (api) => {
      const { key } = await api.clientFor("acme");
      const put = await api.send("PUT", "/api/v1/state/kv/untraced", { value: 1 }, { key });
      assert.equal(put.status, 201);
      assert.equal((await api.call("/api/v1/state/kv/untraced", { key })).status, 200);
      const metrics = await api.call("/metrics");
      assert.equal(metrics.status, 200);
      assert.match(metrics.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
      assert.equal(await metrics.text(), "", "no SDK: no series and no target_info");
      const miss = await api.call("/api/v1/state/kv/never-written", { key });
      assert.equal(miss.status, 404);
      const problem = (await miss.json()) as { code: string; traceId?: string };
      assert.equal(problem.code, "not_found");
      assert.equal(problem.traceId, undefined, "no trace: no all-zero trace id in the problem");
    });
  });
});
