import type { ExportResult } from "@opentelemetry/core";
import {
  AggregationTemporality,
  DataPointType,
  type Histogram,
  InstrumentType,
  type PushMetricExporter,
  type ResourceMetrics,
} from "@opentelemetry/sdk-metrics";

/** One interval of one series: a counter's increase, a gauge's value, or a histogram's bucket counts. */
export type Point =
  | { t: number; kind: "sum"; value: number }
  | { t: number; kind: "gauge"; value: number }
  | { t: number; kind: "histogram"; boundaries: number[]; counts: number[]; sum: number; count: number };

export interface Series {
  metric: string;
  attributes: Record<string, string>;
  points: Point[];
}

const attrKey = (a: Record<string, unknown>) => JSON.stringify(Object.entries(a).sort(([x], [y]) => (x < y ? -1 : 1)));

/**
 * The admin dashboard's data: every metric as ring buffers of per-interval points, filled by a second
 * metric reader (delta temporality, so each export is exactly one interval). Works with no Prometheus.
 */
export class TimeSeriesStore implements PushMetricExporter {
  private readonly series = new Map<string, Map<string, Series>>();

  constructor(
    /** Points older than this are dropped. */
    readonly retentionMs = 6 * 3600_000,
    readonly resolutionMs = 10_000,
  ) {}

  export(metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    try {
      this.ingest(metrics, Date.now());
      done({ code: 0 });
    } catch (error) {
      done({ code: 1, error: error as Error });
    }
  }

  selectAggregationTemporality(type: InstrumentType): AggregationTemporality {
    return type === InstrumentType.UP_DOWN_COUNTER || type === InstrumentType.OBSERVABLE_UP_DOWN_COUNTER
      ? AggregationTemporality.CUMULATIVE
      : AggregationTemporality.DELTA;
  }

  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}

  ingest(metrics: ResourceMetrics, t: number): void {
    const cutoff = t - this.retentionMs;
    for (const scope of metrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        const name = metric.descriptor.name;
        let bySeries = this.series.get(name);
        if (!bySeries) this.series.set(name, (bySeries = new Map()));
        for (const dp of metric.dataPoints as { attributes: Record<string, unknown>; value: unknown }[]) {
          const attributes = Object.fromEntries(Object.entries(dp.attributes).map(([k, v]) => [k, String(v)]));
          const key = attrKey(attributes);
          let s = bySeries.get(key);
          if (!s) bySeries.set(key, (s = { metric: name, attributes, points: [] }));
          let point: Point;
          if (metric.dataPointType === DataPointType.HISTOGRAM) {
            const h = dp.value as Histogram;
            if (h.count === 0) continue; // an idle interval: no point, like Prometheus' absent increase
            point = {
              t,
              kind: "histogram",
              boundaries: h.buckets.boundaries,
              counts: h.buckets.counts,
              sum: h.sum ?? 0,
              count: h.count,
            };
          } else if (metric.dataPointType === DataPointType.GAUGE) {
            point = { t, kind: "gauge", value: Number(dp.value) };
          } else {
            if (Number(dp.value) === 0 && "isMonotonic" in metric && metric.isMonotonic) continue;
            point = { t, kind: "sum", value: Number(dp.value) };
          }
          s.points.push(point);
          while (s.points.length && s.points[0]!.t < cutoff) s.points.shift();
        }
      }
    }
  }

  /** Every series of a metric with its points since `since` (ms epoch). */
  query(metric: string, since: number, match: (attributes: Record<string, string>) => boolean = () => true): Series[] {
    const out: Series[] = [];
    for (const s of this.series.get(metric)?.values() ?? []) {
      if (!match(s.attributes)) continue;
      const points = s.points.filter((p) => p.t >= since);
      if (points.length) out.push({ metric: s.metric, attributes: s.attributes, points });
    }
    return out;
  }

  metricNames(): string[] {
    return [...this.series.keys()];
  }
}

/**
 * The q-quantile of a histogram given as bucket upper bounds and counts, estimated as Prometheus'
 * histogram_quantile does: linear interpolation inside the bucket that holds the rank; the +Inf
 * bucket answers its lower bound. NaN for an empty histogram.
 */
export function histogramQuantile(q: number, boundaries: readonly number[], counts: readonly number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return Number.NaN;
  const rank = q * total;
  let cumulative = 0;
  for (let i = 0; i < counts.length; i++) {
    const previous = cumulative;
    cumulative += counts[i]!;
    if (cumulative >= rank && counts[i]! > 0) {
      if (i === boundaries.length) return boundaries[boundaries.length - 1]!;
      const lower = i === 0 ? 0 : boundaries[i - 1]!;
      const upper = boundaries[i]!;
      return lower + ((upper - lower) * (rank - previous)) / counts[i]!;
    }
  }
  return boundaries[boundaries.length - 1]!;
}

/** Adds histogram points bucket by bucket (they share boundaries: one instrument). */
export function mergeHistograms(
  points: Point[],
): { boundaries: number[]; counts: number[]; count: number; sum: number } | undefined {
  let merged: { boundaries: number[]; counts: number[]; count: number; sum: number } | undefined;
  for (const p of points) {
    if (p.kind !== "histogram") continue;
    if (!merged) merged = { boundaries: p.boundaries, counts: [...p.counts], count: p.count, sum: p.sum };
    else {
      for (const [i, c] of p.counts.entries()) merged!.counts[i] = (merged!.counts[i] ?? 0) + c;
      merged.count += p.count;
      merged.sum += p.sum;
    }
  }
  return merged;
}
