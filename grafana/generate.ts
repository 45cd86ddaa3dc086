// The Grafana dashboards (classic JSON model, a datasource variable, fixed uids) and Grafana's alerting
// provisioning, generated so every query is written once. `npm run grafana:generate` writes them;
// the integration test sends every query here to a real Prometheus scraping a real Statehouse.
import { readFileSync } from "node:fs";
import { parse, stringify } from "yaml";

// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's template variable, written literally
const DS = { type: "prometheus", uid: "${datasource}" };
const RATE = "$__rate_interval";
const JOB = 'job=~"$job"';

export interface PanelSpec {
  title: string;
  description: string;
  unit: string;
  targets: { expr: string; legend: string }[];
  /** "timeseries" (default) or "stat". */
  type?: "timeseries" | "stat";
}

const overview: PanelSpec[] = [
  {
    title: "Latency percentiles per tier",
    description: "p50 / p95 / p99 of state operations in each tier (hot = Redis, warm = PostgreSQL, cold = archive)",
    unit: "s",
    targets: [0.5, 0.95, 0.99].map((q) => ({
      expr: `histogram_quantile(${q}, sum by (le, tier) (rate(statehouse_state_operation_duration_bucket{${JOB}, tier!="tiered"}[${RATE}])))`,
      legend: `{{tier}} p${q * 100}`,
    })),
  },
  {
    title: "p99 latency per operation",
    description: "p99 of what callers asked the tiered store for, per operation",
    unit: "s",
    targets: [
      {
        expr: `histogram_quantile(0.99, sum by (le, operation) (rate(statehouse_state_operation_duration_bucket{${JOB}, tier="tiered"}[${RATE}])))`,
        legend: "{{operation}}",
      },
    ],
  },
  {
    title: "Hit ratio per tier",
    description: "Share of reads that found the record in each tier",
    unit: "percentunit",
    targets: [
      {
        expr: `sum by (tier) (rate(statehouse_cache_requests_total{${JOB}, result="hit"}[${RATE}])) / sum by (tier) (rate(statehouse_cache_requests_total{${JOB}}[${RATE}]))`,
        legend: "{{tier}}",
      },
    ],
  },
  {
    title: "Conflicts per minute per namespace",
    description: "Writes refused because the expected version did not match",
    unit: "short",
    targets: [
      {
        expr: `sum by (namespace) (rate(statehouse_state_conflicts_total{${JOB}}[${RATE}])) * 60`,
        legend: "{{namespace}}",
      },
    ],
  },
  {
    title: "Operations per second",
    description: "State operations by kind",
    unit: "ops",
    targets: [
      {
        expr: `sum by (operation) (rate(statehouse_state_operation_duration_count{${JOB}, tier="tiered"}[${RATE}]))`,
        legend: "{{operation}}",
      },
    ],
  },
  {
    title: "State error ratio",
    description: "Share of state operations that failed on a store (not caller errors)",
    unit: "percentunit",
    targets: [
      {
        expr: `(sum(rate(statehouse_state_operation_duration_count{${JOB}, tier="tiered", outcome="error"}[${RATE}])) or vector(0)) / sum(rate(statehouse_state_operation_duration_count{${JOB}, tier="tiered"}[${RATE}]))`,
        legend: "errors",
      },
    ],
  },
  {
    title: "Stored bytes per namespace",
    description: "Live bytes in the warm tier (the source of truth)",
    unit: "bytes",
    targets: [{ expr: `sum by (namespace) (statehouse_state_stored{${JOB}, tier="warm"})`, legend: "{{namespace}}" }],
  },
  {
    title: "Stored bytes projected in 24 h",
    description: "Linear trend of the last hour, 24 hours ahead",
    unit: "bytes",
    targets: [
      {
        expr: `sum by (namespace) (predict_linear(statehouse_state_stored{${JOB}, tier="warm"}[1h], 86400))`,
        legend: "{{namespace}} in 24h",
      },
    ],
  },
  {
    title: "Keys per namespace and tier",
    description: "Live keys",
    unit: "short",
    targets: [{ expr: `sum by (namespace, tier) (statehouse_state_keys{${JOB}})`, legend: "{{namespace}} {{tier}}" }],
  },
  {
    title: "Value size at write (p95)",
    description: "How big written values are",
    unit: "bytes",
    targets: [
      {
        expr: `histogram_quantile(0.95, sum by (le, namespace) (rate(statehouse_state_size_bucket{${JOB}}[${RATE}])))`,
        legend: "{{namespace}}",
      },
    ],
  },
  {
    title: "Lifecycle events",
    description: "Size warnings and rejections, summarized windows, hot repairs, expiries",
    unit: "short",
    targets: [
      {
        expr: `sum by (namespace, event) (increase(statehouse_lifecycle_events_total{${JOB}}[${RATE}]))`,
        legend: "{{namespace}} {{event}}",
      },
    ],
  },
  {
    title: "Circuit breakers",
    description: "0 closed, 1 half-open, 2 open",
    unit: "short",
    type: "stat",
    targets: [{ expr: `max by (store, tier) (statehouse_store_circuit_state{${JOB}})`, legend: "{{tier}} {{store}}" }],
  },
  {
    title: "Stores up",
    description: "1 when the store answered its last probe",
    unit: "short",
    type: "stat",
    targets: [{ expr: `min by (store, tier) (statehouse_store_up{${JOB}})`, legend: "{{tier}} {{store}}" }],
  },
  {
    title: "HTTP requests per second by status",
    description: "API traffic",
    unit: "reqps",
    targets: [
      { expr: `sum by (status) (rate(statehouse_http_server_duration_count{${JOB}}[${RATE}]))`, legend: "{{status}}" },
    ],
  },
  {
    title: "HTTP 5xx ratio",
    description: "Share of API requests answered 5xx (the SLO's error ratio)",
    unit: "percentunit",
    targets: [
      {
        expr: `(sum(rate(statehouse_http_server_duration_count{${JOB}, status=~"5.."}[${RATE}])) or vector(0)) / sum(rate(statehouse_http_server_duration_count{${JOB}}[${RATE}]))`,
        legend: "5xx ratio",
      },
    ],
  },
  {
    title: "HTTP p95 latency by route",
    description: "Per route template",
    unit: "s",
    targets: [
      {
        expr: `histogram_quantile(0.95, sum by (le, route) (rate(statehouse_http_server_duration_bucket{${JOB}}[${RATE}])))`,
        legend: "{{route}}",
      },
    ],
  },
  {
    title: "Agent turn p95",
    description: "End-to-end agent turns",
    unit: "s",
    targets: [
      {
        expr: `histogram_quantile(0.95, sum by (le, agent) (rate(statehouse_agent_turn_duration_bucket{${JOB}}[${RATE}])))`,
        legend: "{{agent}}",
      },
    ],
  },
  {
    title: "Active sessions and 1 h forecast",
    description:
      "Live sessions per agent, and where the last 30 minutes' trend puts them in an hour (predict_linear; the server's own least-squares forecast alongside)",
    unit: "short",
    targets: [
      { expr: `sum by (agent) (statehouse_sessions_active{${JOB}})`, legend: "{{agent}} active" },
      {
        expr: `sum by (agent) (predict_linear(statehouse_sessions_active{${JOB}}[30m], 3600))`,
        legend: "{{agent}} in 1h (predict_linear)",
      },
      { expr: `sum by (agent) (statehouse_sessions_forecast{${JOB}})`, legend: "{{agent}} in 1h (server forecast)" },
    ],
  },
  {
    title: "Outbox",
    description: "Unpublished events and the age of the oldest",
    unit: "short",
    targets: [
      { expr: `max(statehouse_outbox_pending{${JOB}})`, legend: "pending" },
      { expr: `max(statehouse_outbox_lag{${JOB}})`, legend: "lag (s)" },
    ],
  },
];

// Workflow series exist only once a run has started (or a lease was lost); `or vector(0)` draws 0 until then.
const overviewWorkflows: PanelSpec[] = [
  {
    title: "Workflow runs per minute by status",
    description: "Runs entering queued, succeeded, failed or cancelled",
    unit: "short",
    targets: [
      {
        expr: `(sum by (status) (rate(statehouse_workflow_runs_total{${JOB}}[${RATE}])) * 60) or vector(0)`,
        legend: "{{status}}",
      },
    ],
  },
  {
    title: "Workflow step p95 by type",
    description: "Duration of step attempts",
    unit: "s",
    targets: [
      {
        expr: `histogram_quantile(0.95, sum by (le, type) (rate(statehouse_workflow_step_duration_bucket{${JOB}}[${RATE}]))) or vector(0)`,
        legend: "{{type}}",
      },
    ],
  },
  {
    title: "Workflow step failures per minute",
    description: "Step attempts that threw (they are retried with backoff)",
    unit: "short",
    targets: [
      {
        expr: `(sum by (type) (rate(statehouse_workflow_step_duration_count{${JOB}, outcome="error"}[${RATE}])) * 60) or vector(0)`,
        legend: "{{type}}",
      },
    ],
  },
  {
    title: "Workflow resumes and lease losses per minute",
    description: "Runs resumed after their worker's lease expired; workers that found their run taken over",
    unit: "short",
    targets: [
      { expr: `(sum(rate(statehouse_workflow_resumes_total{${JOB}}[${RATE}])) * 60) or vector(0)`, legend: "resumes" },
      {
        expr: `(sum(rate(statehouse_workflow_lease_losses_total{${JOB}}[${RATE}])) * 60) or vector(0)`,
        legend: "lease losses",
      },
    ],
  },
];

// Long-term memory: growth (the per-namespace gauges), search and extraction; `or vector(0)` until the first.
const MEMORIES = `${JOB}, namespace="memories", tier="warm"`;
const overviewMemory: PanelSpec[] = [
  {
    title: "Long-term memory growth",
    description:
      "Live memories of tenants' users and LangGraph store items (warm tier), and new memories per hour; the alert StatehouseMemoryGrowthRunaway watches the growth",
    unit: "short",
    targets: [
      { expr: `max(statehouse_state_keys{${MEMORIES}}) or vector(0)`, legend: "memories" },
      {
        expr: `max(statehouse_state_keys{${JOB}, namespace="store", tier="warm"}) or vector(0)`,
        legend: "store items",
      },
      {
        expr: `max(delta(statehouse_state_keys{${MEMORIES}}[1h])) or vector(0)`,
        legend: "new memories in the last hour",
      },
    ],
  },
  {
    title: "Memory search and extraction p95",
    description: "Hybrid searches (memories, store items) and promoting what an agent turn taught, p95",
    unit: "s",
    targets: [
      {
        expr: `histogram_quantile(0.95, sum by (le, target) (rate(statehouse_memory_search_duration_bucket{${JOB}}[${RATE}]))) or vector(0)`,
        legend: "search {{target}}",
      },
      {
        expr: `histogram_quantile(0.95, sum by (le) (rate(statehouse_memory_extraction_duration_bucket{${JOB}}[${RATE}]))) or vector(0)`,
        legend: "extraction per turn",
      },
    ],
  },
  {
    title: "Recalled memories used",
    description: "Share of long-term-memory agents' turns whose context got memories of their user",
    unit: "percentunit",
    targets: [
      {
        expr: `(sum(rate(statehouse_memory_recalls_total{${JOB}, result="used"}[${RATE}])) / sum(rate(statehouse_memory_recalls_total{${JOB}}[${RATE}]))) or vector(0)`,
        legend: "used",
      },
    ],
  },
];

const NS = 'namespace="$namespace"';
const namespacePanels: PanelSpec[] = [
  {
    title: "p99 latency per tier",
    description: "State operations on this namespace",
    unit: "s",
    targets: [
      {
        expr: `histogram_quantile(0.99, sum by (le, tier) (rate(statehouse_state_operation_duration_bucket{${JOB}, ${NS}}[${RATE}])))`,
        legend: "{{tier}}",
      },
    ],
  },
  {
    title: "Operations per second",
    description: "By operation and outcome",
    unit: "ops",
    targets: [
      {
        expr: `sum by (operation, outcome) (rate(statehouse_state_operation_duration_count{${JOB}, ${NS}, tier="tiered"}[${RATE}]))`,
        legend: "{{operation}} {{outcome}}",
      },
    ],
  },
  {
    title: "Hit ratio per tier",
    description: "Reads that found the record",
    unit: "percentunit",
    targets: [
      {
        expr: `sum by (tier) (rate(statehouse_cache_requests_total{${JOB}, ${NS}, result="hit"}[${RATE}])) / sum by (tier) (rate(statehouse_cache_requests_total{${JOB}, ${NS}}[${RATE}]))`,
        legend: "{{tier}}",
      },
    ],
  },
  {
    title: "Conflicts per minute",
    description: "By operation",
    unit: "short",
    targets: [
      {
        expr: `sum by (operation) (rate(statehouse_state_conflicts_total{${JOB}, ${NS}}[${RATE}])) * 60`,
        legend: "{{operation}}",
      },
    ],
  },
  {
    title: "Stored bytes and trend",
    description: "Live bytes per tier, and the warm tier's 24 h projection",
    unit: "bytes",
    targets: [
      { expr: `sum by (tier) (statehouse_state_stored{${JOB}, ${NS}})`, legend: "{{tier}}" },
      {
        expr: `sum(predict_linear(statehouse_state_stored{${JOB}, ${NS}, tier="warm"}[1h], 86400))`,
        legend: "warm in 24h",
      },
    ],
  },
  {
    title: "Keys",
    description: "Live keys per tier",
    unit: "short",
    targets: [{ expr: `sum by (tier) (statehouse_state_keys{${JOB}, ${NS}})`, legend: "{{tier}}" }],
  },
  {
    title: "Value size at write",
    description: "p50 and p95",
    unit: "bytes",
    targets: [0.5, 0.95].map((q) => ({
      expr: `histogram_quantile(${q}, sum by (le) (rate(statehouse_state_size_bucket{${JOB}, ${NS}}[${RATE}])))`,
      legend: `p${q * 100}`,
    })),
  },
  {
    title: "Lifecycle events",
    description: "By event",
    unit: "short",
    targets: [
      {
        expr: `sum by (event) (increase(statehouse_lifecycle_events_total{${JOB}, ${NS}}[${RATE}]))`,
        legend: "{{event}}",
      },
    ],
  },
];

function dashboard(uid: string, title: string, panels: PanelSpec[], extraVariables: object[] = []) {
  return {
    uid,
    title,
    tags: ["statehouse"],
    timezone: "browser",
    schemaVersion: 39,
    version: 1,
    editable: true,
    refresh: "30s",
    time: { from: "now-1h", to: "now" },
    templating: {
      list: [
        { name: "datasource", label: "Data source", type: "datasource", query: "prometheus", current: {}, hide: 0 },
        {
          name: "job",
          label: "Job",
          type: "query",
          datasource: DS,
          query: { query: "label_values(statehouse_store_up, job)", refId: "job" },
          definition: "label_values(statehouse_store_up, job)",
          includeAll: true,
          multi: true,
          allValue: ".*",
          current: { text: "All", value: "$__all" },
          refresh: 2,
          hide: 0,
        },
        ...extraVariables,
      ],
    },
    panels: panels.map((p, i) => ({
      id: i + 1,
      type: p.type ?? "timeseries",
      title: p.title,
      description: p.description,
      datasource: DS,
      gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: Math.floor(i / 2) * 8 },
      fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
      options:
        p.type === "stat"
          ? { reduceOptions: { calcs: ["lastNotNull"] } }
          : { legend: { displayMode: "list", placement: "bottom" } },
      targets: p.targets.map((t, j) => ({
        refId: String.fromCharCode(65 + j),
        datasource: DS,
        expr: t.expr,
        legendFormat: t.legend,
      })),
    })),
  };
}

export const DASHBOARDS = {
  "grafana/dashboards/statehouse-overview.json": dashboard("statehouse-overview", "Statehouse — overview", [
    ...overview,
    ...overviewWorkflows,
    ...overviewMemory,
  ]),
  "grafana/dashboards/statehouse-namespace.json": dashboard(
    "statehouse-namespace",
    "Statehouse — namespace",
    namespacePanels,
    [
      {
        name: "namespace",
        label: "Namespace",
        type: "query",
        datasource: DS,
        query: { query: "label_values(statehouse_state_operation_duration_count, namespace)", refId: "namespace" },
        definition: "label_values(statehouse_state_operation_duration_count, namespace)",
        current: { text: "sessions", value: "sessions" },
        refresh: 2,
        hide: 0,
      },
    ],
  ),
};

export const RULES_FILE = "grafana/prometheus/statehouse-rules.yml";

interface PromRule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function prometheusRules(root = new URL("..", import.meta.url)): {
  groups: { name: string; interval?: string; rules: PromRule[] }[];
} {
  return parse(readFileSync(new URL(RULES_FILE, root), "utf8"));
}

/**
 * Grafana-managed versions of the Prometheus alerts. Query A is the alert's own expression turned into
 * 1 per firing series; the condition is A > 0. The recording rules they use must be loaded into
 * Prometheus (they are in the same rule file).
 */
function grafanaAlerting(): object {
  const rules = prometheusRules()
    .groups.flatMap((g) => g.rules)
    .filter((r) => r.alert);
  return {
    apiVersion: 1,
    groups: [
      {
        orgId: 1,
        name: "statehouse",
        folder: "Statehouse",
        interval: "1m",
        rules: rules.map((r) => ({
          uid: `sh-${r
            .alert!.replace(/^Statehouse/, "")
            .replace(/([a-z])([A-Z])/g, "$1-$2")
            .toLowerCase()}`.slice(0, 40),
          title: r.alert,
          condition: "C",
          data: [
            {
              refId: "A",
              relativeTimeRange: { from: 600, to: 0 },
              datasourceUid: "prometheus",
              model: { refId: "A", expr: `(${r.expr.trim()}) * 0 + 1`, instant: true },
            },
            {
              refId: "B",
              datasourceUid: "__expr__",
              model: { refId: "B", type: "reduce", expression: "A", reducer: "last" },
            },
            {
              refId: "C",
              datasourceUid: "__expr__",
              model: {
                refId: "C",
                type: "threshold",
                expression: "B",
                conditions: [{ evaluator: { type: "gt", params: [0] } }],
              },
            },
          ],
          for: r.for ?? "0s",
          noDataState: "OK",
          execErrState: "Error",
          labels: r.labels ?? {},
          annotations: r.annotations ?? {},
        })),
      },
    ],
  };
}

/** Every generated file, path → content. */
export function generatedGrafanaFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [path, d] of Object.entries(DASHBOARDS)) files[path] = `${JSON.stringify(d, null, 2)}\n`;
  files["grafana/provisioning/alerting/statehouse.yml"] =
    `# Generated by npm run grafana:generate from ${RULES_FILE}. Do not edit.\n${stringify(grafanaAlerting(), { lineWidth: 0 })}`;
  return files;
}

/** Every PromQL expression the dashboards and rules send, with Grafana's variables as a test fills them. */
export function allQueries(variables: Record<string, string> = { job: ".*", namespace: "kv", __rate_interval: "1m" }) {
  const fill = (expr: string) => expr.replace(/\$(\w+)/g, (_, name: string) => variables[name] ?? `$${name}`);
  const panels = Object.entries(DASHBOARDS).flatMap(([file, d]) =>
    d.panels.flatMap((p) =>
      p.targets.map((t) => ({ source: `${file} / ${p.title} / ${t.refId}`, expr: fill(t.expr) })),
    ),
  );
  const rules = prometheusRules().groups.flatMap((g) =>
    g.rules.map((r) => ({ source: `${RULES_FILE} / ${r.alert ?? r.record}`, expr: r.expr })),
  );
  return { panels, rules };
}
