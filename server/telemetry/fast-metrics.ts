import { type Attributes, type HrTime, ValueType } from "@opentelemetry/api";
import {
  AggregationTemporality,
  type CollectionResult,
  DataPointType,
  type HistogramMetricData,
  type MetricData,
  type MetricProducer,
  type SumMetricData,
} from "@opentelemetry/sdk-metrics";

/*
 * Why this file exists: the OpenTelemetry SDK hashes the attribute object (sorting its keys and
 * serializing it) on every record(), about 3 µs here. A state read records three times, which cost 40%
 * of hot-read throughput in `npm run bench`. These instruments keep the same data (explicit-bucket
 * histograms and monotonic sums, per attribute set) keyed by a string built without sorting or JSON,
 * and hand it to the SDK's readers as a MetricProducer, so /metrics and the in-process time series
 * see ordinary OpenTelemetry metric data. Callers must pass attributes with a stable key order.
 */

export interface HistogramRecorder {
  /** `key`, when given, must identify `attributes` (see attributeKey); it saves building it. */
  record(value: number, attributes?: Attributes, key?: string): void;
}
export interface CounterRecorder {
  add(value: number, attributes?: Attributes, key?: string): void;
}

interface HistogramSeries {
  attributes: Attributes;
  counts: number[];
  sum: number;
  count: number;
  min: number;
  max: number;
  start: HrTime;
}

interface SumSeries {
  attributes: Attributes;
  value: number;
  start: HrTime;
}

const hrTime = (ms: number): HrTime => [Math.floor(ms / 1000), Math.round((ms % 1000) * 1e6)];

/** A string per attribute set, in the caller's key order (no sort, no JSON). */
export function attributeKey(attributes: Attributes | undefined): string {
  let key = "";
  if (attributes) for (const k in attributes) key += `${k}\u0001${attributes[k] as string}\u0002`;
  return key;
}

export class FastHistogram implements HistogramRecorder {
  readonly series = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly options: { description: string; unit: string; boundaries: readonly number[] },
  ) {}

  record(value: number, attributes?: Attributes, key = attributeKey(attributes)): void {
    if (!(value >= 0) || value === Number.POSITIVE_INFINITY) return; // NaN, negatives: dropped, as the SDK does for histograms
    let s = this.series.get(key);
    if (!s) {
      s = {
        attributes: { ...attributes },
        counts: new Array(this.options.boundaries.length + 1).fill(0),
        sum: 0,
        count: 0,
        min: value,
        max: value,
        start: hrTime(Date.now()),
      };
      this.series.set(key, s);
    }
    const b = this.options.boundaries;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    s.counts[i]!++;
    s.sum += value;
    s.count++;
    if (value < s.min) s.min = value;
    if (value > s.max) s.max = value;
  }
}

export class FastCounter implements CounterRecorder {
  readonly series = new Map<string, SumSeries>();

  constructor(
    readonly name: string,
    readonly options: { description: string; unit?: string },
  ) {}

  add(value: number, attributes?: Attributes, key = attributeKey(attributes)): void {
    if (!(value >= 0)) return; // a counter only goes up
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { attributes: { ...attributes }, value: 0, start: hrTime(Date.now()) }));
    s.value += value;
  }
}

/** The instruments a producer reports. */
export class FastMetrics {
  readonly histograms: FastHistogram[] = [];
  readonly counters: FastCounter[] = [];

  constructor(readonly scope: { name: string; version?: string }) {}

  histogram(name: string, options: FastHistogram["options"]): FastHistogram {
    const h = new FastHistogram(name, options);
    this.histograms.push(h);
    return h;
  }

  counter(name: string, options: FastCounter["options"]): FastCounter {
    const c = new FastCounter(name, options);
    this.counters.push(c);
    return c;
  }

  /**
   * A MetricProducer for one reader. Cumulative (Prometheus) reports totals since start; delta (the
   * time series) reports what changed since that producer's previous collection.
   */
  producer(temporality: AggregationTemporality): MetricProducer {
    const previous = new Map<string, { counts: number[]; sum: number; count: number } | number>();
    let lastCollect = hrTime(Date.now());
    return {
      collect: async (): Promise<CollectionResult> => {
        const now = hrTime(Date.now());
        const delta = temporality === AggregationTemporality.DELTA;
        const metrics: MetricData[] = [];
        for (const h of this.histograms) {
          const dataPoints: HistogramMetricData["dataPoints"] = [];
          for (const [key, s] of h.series) {
            if (!delta) {
              dataPoints.push({
                attributes: s.attributes,
                startTime: s.start,
                endTime: now,
                value: {
                  buckets: { boundaries: [...h.options.boundaries], counts: [...s.counts] },
                  sum: s.sum,
                  count: s.count,
                  min: s.min,
                  max: s.max,
                },
              });
              continue;
            }
            const id = `${h.name}\u0000${key}`;
            const prev = previous.get(id) as { counts: number[]; sum: number; count: number } | undefined;
            const count = s.count - (prev?.count ?? 0);
            previous.set(id, { counts: [...s.counts], sum: s.sum, count: s.count });
            if (count === 0) continue;
            dataPoints.push({
              attributes: s.attributes,
              startTime: lastCollect,
              endTime: now,
              value: {
                buckets: {
                  boundaries: [...h.options.boundaries],
                  counts: s.counts.map((c, i) => c - (prev?.counts[i] ?? 0)),
                },
                sum: s.sum - (prev?.sum ?? 0),
                count,
              },
            });
          }
          if (dataPoints.length) {
            metrics.push({
              descriptor: {
                name: h.name,
                description: h.options.description,
                unit: h.options.unit,
                valueType: ValueType.DOUBLE,
              },
              aggregationTemporality: temporality,
              dataPointType: DataPointType.HISTOGRAM,
              dataPoints,
            });
          }
        }
        for (const c of this.counters) {
          const dataPoints: SumMetricData["dataPoints"] = [];
          for (const [key, s] of c.series) {
            if (!delta) {
              dataPoints.push({ attributes: s.attributes, startTime: s.start, endTime: now, value: s.value });
              continue;
            }
            const id = `${c.name}\u0000${key}`;
            const value = s.value - ((previous.get(id) as number | undefined) ?? 0);
            previous.set(id, s.value);
            if (value !== 0) dataPoints.push({ attributes: s.attributes, startTime: lastCollect, endTime: now, value });
          }
          if (dataPoints.length) {
            metrics.push({
              descriptor: {
                name: c.name,
                description: c.options.description,
                unit: c.options.unit ?? "",
                valueType: ValueType.DOUBLE,
              },
              aggregationTemporality: temporality,
              dataPointType: DataPointType.SUM,
              isMonotonic: true,
              dataPoints,
            });
          }
        }
        lastCollect = now;
        return {
          resourceMetrics: {
            resource: undefined as never,
            scopeMetrics: metrics.length
              ? [{ scope: { name: this.scope.name, version: this.scope.version }, metrics }]
              : [],
          },
          errors: [],
        };
      },
    };
  }
}
