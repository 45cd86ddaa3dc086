import type { MetricWindow } from "../shared/types";
import { histogramQuantile, mergeHistograms, type Point, type TimeSeriesStore } from "./time-series";

export const WINDOWS = { "15m": 15 * 60_000, "1h": 3600_000, "6h": 6 * 3600_000 } as const satisfies Record<
  MetricWindow,
  number
>;
export type WindowName = MetricWindow;

const DURATION = "statehouse.state.operation.duration";
const CACHE = "statehouse.cache.requests";
const CONFLICTS = "statehouse.state.conflicts";
const STORED = "statehouse.state.stored";
const KEYS = "statehouse.state.keys";
const LIFECYCLE = "statehouse.lifecycle.events";

const round = (n: number, digits = 6) => (Number.isFinite(n) ? Number(n.toFixed(digits)) : null);

/**
 * The admin dashboard's numbers for a window, computed from the in-process time series: latency
 * percentiles per tier and operation (histogram_quantile over the window's merged buckets, as
 * Prometheus computes them), hit ratio per tier, conflicts per minute, operations per second, error
 * rate, and stored bytes/keys per namespace and tier over time — each also as a series of steps.
 */
export function adminMetrics(series: TimeSeriesStore, window: WindowName, now = Date.now()) {
  const windowMs = WINDOWS[window];
  const since = now - windowMs;
  const stepMs = Math.max(series.resolutionMs, Math.ceil(windowMs / 360 / series.resolutionMs) * series.resolutionMs);
  const stepOf = (t: number) => Math.floor(t / stepMs) * stepMs;

  const durations = series.query(DURATION, since);
  const group = <K extends string>(keyOf: (a: Record<string, string>) => K | undefined) => {
    const out = new Map<K, Point[]>();
    for (const s of durations) {
      const k = keyOf(s.attributes);
      if (k === undefined) continue;
      out.set(k, [...(out.get(k) ?? []), ...s.points]);
    }
    return out;
  };

  const latency = [...group((a) => `${a.tier}|${a.operation}`)]
    .map(([k, points]) => {
      const [tier, operation] = k.split("|") as [string, string];
      const h = mergeHistograms(points)!;
      return {
        tier,
        operation,
        count: h.count,
        p50: round(histogramQuantile(0.5, h.boundaries, h.counts)),
        p95: round(histogramQuantile(0.95, h.boundaries, h.counts)),
        p99: round(histogramQuantile(0.99, h.boundaries, h.counts)),
        mean: round(h.sum / h.count),
      };
    })
    .sort((x, y) => (x.tier + x.operation < y.tier + y.operation ? -1 : 1));

  const latencyOverTime = [...group((a) => a.tier)].flatMap(([tier, points]) => {
    const bySteps = new Map<number, Point[]>();
    for (const p of points) bySteps.set(stepOf(p.t), [...(bySteps.get(stepOf(p.t)) ?? []), p]);
    return [...bySteps]
      .sort(([a], [b]) => a - b)
      .map(([t, ps]) => {
        const h = mergeHistograms(ps)!;
        return {
          t,
          tier,
          p50: round(histogramQuantile(0.5, h.boundaries, h.counts)),
          p95: round(histogramQuantile(0.95, h.boundaries, h.counts)),
          p99: round(histogramQuantile(0.99, h.boundaries, h.counts)),
        };
      });
  });

  // Operations of the tiered store = what callers asked for (per-tier calls are parts of them).
  const tieredOps = durations.filter((s) => s.attributes.tier === "tiered");
  const countPoints = (ps: Point[]) => ps.reduce((n, p) => n + (p.kind === "histogram" ? p.count : 0), 0);
  const opsTotal = tieredOps.reduce((n, s) => n + countPoints(s.points), 0);
  const errorsTotal = tieredOps
    .filter((s) => s.attributes.outcome === "error")
    .reduce((n, s) => n + countPoints(s.points), 0);
  const opsBySteps = new Map<number, { ops: number; errors: number }>();
  for (const s of tieredOps) {
    for (const p of s.points) {
      if (p.kind !== "histogram") continue;
      const e = opsBySteps.get(stepOf(p.t)) ?? { ops: 0, errors: 0 };
      e.ops += p.count;
      if (s.attributes.outcome === "error") e.errors += p.count;
      opsBySteps.set(stepOf(p.t), e);
    }
  }

  const cache = series.query(CACHE, since);
  const hitsByTier = new Map<string, { hits: number; misses: number }>();
  const hitSteps = new Map<string, { hits: number; misses: number }>();
  for (const s of cache) {
    const tier = s.attributes.tier!;
    for (const p of s.points) {
      if (p.kind !== "sum") continue;
      const hit = s.attributes.result === "hit";
      const total = hitsByTier.get(tier) ?? { hits: 0, misses: 0 };
      const step = hitSteps.get(`${stepOf(p.t)}|${tier}`) ?? { hits: 0, misses: 0 };
      const field = hit ? "hits" : "misses";
      total[field] += p.value;
      step[field] += p.value;
      hitsByTier.set(tier, total);
      hitSteps.set(`${stepOf(p.t)}|${tier}`, step);
    }
  }

  const conflictPoints = series.query(CONFLICTS, since).flatMap((s) => s.points);
  const conflictsTotal = conflictPoints.reduce((n, p) => n + (p.kind === "sum" ? p.value : 0), 0);
  const conflictSteps = new Map<number, number>();
  for (const p of conflictPoints)
    if (p.kind === "sum") conflictSteps.set(stepOf(p.t), (conflictSteps.get(stepOf(p.t)) ?? 0) + p.value);

  const storage = new Map<
    string,
    { namespace: string; tier: string; points: Map<number, { bytes?: number; keys?: number }> }
  >();
  for (const [metric, field] of [
    [STORED, "bytes"],
    [KEYS, "keys"],
  ] as const) {
    for (const s of series.query(metric, since)) {
      const id = `${s.attributes.namespace}|${s.attributes.tier}`;
      const entry = storage.get(id) ?? {
        namespace: s.attributes.namespace!,
        tier: s.attributes.tier!,
        points: new Map(),
      };
      for (const p of s.points)
        if (p.kind === "gauge") entry.points.set(stepOf(p.t), { ...entry.points.get(stepOf(p.t)), [field]: p.value });
      storage.set(id, entry);
    }
  }

  const lifecycle = new Map<string, number>();
  for (const s of series.query(LIFECYCLE, since)) {
    const id = `${s.attributes.namespace}|${s.attributes.event}`;
    lifecycle.set(id, (lifecycle.get(id) ?? 0) + s.points.reduce((n, p) => n + (p.kind === "sum" ? p.value : 0), 0));
  }

  const minutes = windowMs / 60_000;
  return {
    window,
    from: new Date(since).toISOString(),
    to: new Date(now).toISOString(),
    stepSeconds: stepMs / 1000,
    latency,
    latencyOverTime,
    hitRatio: [...hitsByTier].map(([tier, h]) => ({
      tier,
      hits: h.hits,
      misses: h.misses,
      ratio: round(h.hits / (h.hits + h.misses), 4),
    })),
    hitRatioOverTime: [...hitSteps]
      .map(([k, h]) => ({
        t: Number(k.split("|")[0]),
        tier: k.split("|")[1]!,
        ratio: round(h.hits / (h.hits + h.misses), 4),
      }))
      .sort((a, b) => a.t - b.t),
    conflicts: { total: conflictsTotal, perMinute: round(conflictsTotal / minutes, 4) },
    conflictsOverTime: [...conflictSteps]
      .sort(([a], [b]) => a - b)
      .map(([t, n]) => ({ t, perMinute: round((n * 60_000) / stepMs, 4) })),
    operations: { total: opsTotal, perSecond: round(opsTotal / (windowMs / 1000), 4) },
    operationsOverTime: [...opsBySteps]
      .sort(([a], [b]) => a - b)
      .map(([t, e]) => ({ t, perSecond: round(e.ops / (stepMs / 1000), 4), errorRate: round(e.errors / e.ops, 4) })),
    errors: { total: errorsTotal, rate: opsTotal ? round(errorsTotal / opsTotal, 4) : 0 },
    storage: [...storage.values()].map((s) => {
      const points = [...s.points]
        .sort(([a], [b]) => a - b)
        .map(([t, v]) => ({ t, bytes: v.bytes ?? null, keys: v.keys ?? null }));
      return { namespace: s.namespace, tier: s.tier, points, trendBytesPerHour: trend(points) };
    }),
    lifecycle: [...lifecycle].map(([k, count]) => ({ namespace: k.split("|")[0]!, event: k.split("|")[1]!, count })),
  };
}

/** Least-squares slope of bytes over time, per hour (null with fewer than two points). */
function trend(points: { t: number; bytes: number | null }[]): number | null {
  const xs = points.filter((p) => p.bytes !== null);
  if (xs.length < 2) return null;
  const n = xs.length;
  const mx = xs.reduce((a, p) => a + p.t, 0) / n;
  const my = xs.reduce((a, p) => a + p.bytes!, 0) / n;
  const num = xs.reduce((a, p) => a + (p.t - mx) * (p.bytes! - my), 0);
  const den = xs.reduce((a, p) => a + (p.t - mx) ** 2, 0);
  return den === 0 ? 0 : round((num / den) * 3600_000, 2);
}
