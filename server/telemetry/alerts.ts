import { histogramQuantile, mergeHistograms, type TimeSeriesStore } from "./time-series";

export interface AlertStatus {
  alert: string;
  severity: "warning" | "critical";
  summary: string;
  state: "firing" | "inactive" | "no_data";
  value: number | null;
  threshold: number;
  /** Where the answer came from: this process's time series, or Prometheus. */
  source: "in-process" | "prometheus";
}

export interface AlertInputs {
  series: TimeSeriesStore;
  circuits: { store: string; tier: string; state: string }[];
  stores: { store: string; tier: string; up: boolean }[];
  outboxLagSeconds: number | null;
  quotas: Map<string, number>;
  now?: number;
}

const MIN = 60_000;

/**
 * The conditions of grafana/prometheus/statehouse-rules.yml, evaluated against this process's time
 * series so an operator sees what would page with no Prometheus. Each is checked now, over the same
 * windows as the rule; the rules' `for` durations are not applied here (Prometheus applies them).
 * The alert names equal the rule names (a test keeps them in step).
 */
const FIRES = {
  above: (v: number, threshold: number) => v > threshold,
  below: (v: number, threshold: number) => v < threshold,
  at: (v: number, threshold: number) => v === threshold,
};

export function evaluateAlerts(input: AlertInputs): AlertStatus[] {
  const now = input.now ?? Date.now();
  const { series } = input;
  const out: AlertStatus[] = [];
  const push = (
    alert: string,
    severity: AlertStatus["severity"],
    summary: string,
    value: number | null,
    threshold: number,
    fires: "above" | "below" | "at" = "above",
  ) =>
    out.push({
      alert,
      severity,
      summary,
      value,
      threshold,
      state: value === null || Number.isNaN(value) ? "no_data" : FIRES[fires](value, threshold) ? "firing" : "inactive",
      source: "in-process",
    });

  const p99 = (tier: string) => {
    const h = mergeHistograms(
      series
        .query("statehouse.state.operation.duration", now - 5 * MIN, (a) => a.tier === tier)
        .flatMap((s) => s.points),
    );
    return h ? histogramQuantile(0.99, h.boundaries, h.counts) : null;
  };
  push("StatehouseHotLatencyHigh", "warning", "Hot tier p99 latency is over its 10 ms SLO", p99("hot"), 0.01);
  push("StatehouseWarmLatencyHigh", "warning", "Warm tier p99 latency is over its 100 ms SLO", p99("warm"), 0.1);
  push("StatehouseColdLatencyHigh", "warning", "Cold tier p99 latency is over its 1 s SLO", p99("cold"), 1);

  const errorRatio = (windowMs: number) => {
    let all = 0;
    let bad = 0;
    for (const s of series.query("statehouse.http.server.duration", now - windowMs)) {
      const n = s.points.reduce((a, p) => a + (p.kind === "histogram" ? p.count : 0), 0);
      all += n;
      if (s.attributes.status?.startsWith("5")) bad += n;
    }
    return all ? bad / all : null;
  };
  // Multiwindow burn rate: the long window says the budget burns, the short one that it still does.
  const burn = (longMin: number, shortMin: number) => {
    const [long, short] = [errorRatio(longMin * MIN), errorRatio(shortMin * MIN)];
    return long === null || short === null ? null : Math.min(long, short);
  };
  push("StatehouseErrorBudgetBurnFast", "critical", "Statehouse is burning its error budget fast", burn(60, 5), 0.0144);
  push("StatehouseErrorBudgetBurnSlow", "warning", "Statehouse is burning its error budget", burn(360, 30), 0.006);

  const sum = (metric: string, since: number, match: (a: Record<string, string>) => boolean) =>
    series
      .query(metric, since, match)
      .reduce(
        (n, s) =>
          n + s.points.reduce((a, p) => a + (p.kind === "sum" ? p.value : p.kind === "histogram" ? p.count : 0), 0),
        0,
      );
  let worstConflict: number | null = null;
  const writes = series.query(
    "statehouse.state.operation.duration",
    now - 5 * MIN,
    (a) => a.tier === "tiered" && ["put", "delete", "transaction"].includes(a.operation!),
  );
  for (const ns of new Set(writes.map((s) => s.attributes.namespace!))) {
    const w = sum(
      "statehouse.state.operation.duration",
      now - 5 * MIN,
      (a) => a.tier === "tiered" && a.namespace === ns && ["put", "delete", "transaction"].includes(a.operation!),
    );
    const c = sum("statehouse.state.conflicts", now - 5 * MIN, (a) => a.namespace === ns);
    if (w / 300 > 0.1) worstConflict = Math.max(worstConflict ?? 0, c / w);
  }
  push(
    "StatehouseConflictRatioSpike",
    "warning",
    "More than 20% of writes to a namespace conflict",
    worstConflict ?? (writes.length ? 0 : null),
    0.2,
  );

  const hits = sum("statehouse.cache.requests", now - 15 * MIN, (a) => a.tier === "hot" && a.result === "hit");
  const reads = sum("statehouse.cache.requests", now - 15 * MIN, (a) => a.tier === "hot");
  push(
    "StatehouseHotHitRatioLow",
    "warning",
    "Hot tier hit ratio dropped below 50%",
    reads / 900 > 1 ? hits / reads : reads ? 1 : null,
    0.5,
    "below",
  );

  let worstGrowth: number | null = null;
  for (const s of series.query("statehouse.state.stored", now - 360 * MIN, (a) => a.tier === "warm")) {
    const quota = input.quotas.get(s.attributes.namespace!);
    const pts = s.points.filter((p) => p.kind === "gauge") as { t: number; value: number }[];
    if (!quota || pts.length < 2) continue;
    const n = pts.length,
      mx = pts.reduce((a, p) => a + p.t, 0) / n,
      my = pts.reduce((a, p) => a + p.value, 0) / n;
    const den = pts.reduce((a, p) => a + (p.t - mx) ** 2, 0);
    const slope = den ? pts.reduce((a, p) => a + (p.t - mx) * (p.value - my), 0) / den : 0;
    const projected = pts[n - 1]!.value + slope * 3 * 86_400_000;
    worstGrowth = Math.max(worstGrowth ?? 0, projected / quota);
  }
  push(
    "StatehouseStateGrowthToQuota",
    "warning",
    "A namespace is projected to pass its storage quota within 3 days",
    worstGrowth,
    1,
  );

  // New long-term memories in the last hour, when that is more than half again as many as an hour ago.
  const memories = series
    .query("statehouse.state.keys", now - 120 * MIN, (a) => a.tier === "warm" && a.namespace === "memories")
    .flatMap((s) => s.points.filter((p) => p.kind === "gauge") as { t: number; value: number }[])
    .sort((a, b) => a.t - b.t);
  const latest = memories.at(-1);
  const hourAgo = memories.filter((p) => p.t <= now - 60 * MIN).at(-1);
  const added = latest && hourAgo ? latest.value - hourAgo.value : null;
  push(
    "StatehouseMemoryGrowthRunaway",
    "warning",
    "Long-term memories grew by half in an hour",
    added === null || !latest || !hourAgo ? null : latest.value > 1.5 * hourAgo.value ? added : 0,
    1000,
  );

  push(
    "StatehouseCircuitOpen",
    "critical",
    "A store's circuit breaker is open",
    input.circuits.some((c) => c.state === "open") ? 2 : 0,
    2,
    "at",
  );
  push("StatehouseStoreDown", "critical", "A store does not answer", input.stores.some((s) => !s.up) ? 0 : 1, 0, "at");
  push("StatehouseOutboxLag", "warning", "Outbox events are waiting more than 5 minutes", input.outboxLagSeconds, 300);
  return out;
}

/** Active alerts from Prometheus (PROMETHEUS_URL), mapped to the same shape. */
export async function prometheusAlerts(prometheusUrl: string): Promise<AlertStatus[]> {
  const res = await fetch(new URL("/api/v1/alerts", prometheusUrl), { signal: AbortSignal.timeout(3000) });
  const body = (await res.json()) as {
    data: {
      alerts: { labels: Record<string, string>; annotations: Record<string, string>; state: string; value: string }[];
    };
  };
  return body.data.alerts
    .filter((a) => a.labels.alertname?.startsWith("Statehouse"))
    .map((a) => ({
      alert: a.labels.alertname!,
      severity: (a.labels.severity as AlertStatus["severity"]) ?? "warning",
      summary: a.annotations.summary ?? "",
      state: a.state === "firing" ? "firing" : "inactive",
      value: Number(a.value),
      threshold: Number.NaN,
      source: "prometheus" as const,
    }));
}
