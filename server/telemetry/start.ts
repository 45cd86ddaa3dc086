import { readFileSync } from "node:fs";
import path from "node:path";
import { metrics, type Meter, type Tracer, trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { AggregationTemporality, MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import {
  AlwaysOffSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  AlwaysOnSampler,
  TraceIdRatioBasedSampler,
  type Sampler,
} from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { FastMetrics } from "./fast-metrics";
import { createFastInstruments, createInstruments, type Instruments } from "./instruments";
import { TimeSeriesStore } from "./time-series";

export interface Telemetry {
  readonly enabled: boolean;
  readonly meter: Meter;
  readonly tracer: Tracer;
  readonly instruments: Instruments;
  /** Serves /metrics (pull, no server of its own). Undefined when telemetry is off. */
  readonly prometheus?: PrometheusExporter;
  /** The in-process time series behind the admin dashboard. */
  readonly timeSeries: TimeSeriesStore;
  /** Pushes the current interval into the time series now (tests; normally every 10 s). */
  flushTimeSeries(): Promise<void>;
  /** Whether spans are exported (OTLP configured). */
  readonly tracesExported: boolean;
  shutdown(): Promise<void>;
}

const KEY = Symbol.for("statehouse.telemetry");
const holder = globalThis as unknown as Record<symbol, Telemetry | undefined>;

export const TIME_SERIES_RESOLUTION_MS = 10_000;

/**
 * Starts OpenTelemetry once per process and returns the same instance to every caller (server/main.ts
 * calls it first; instrumentation.ts calls it under `next start`; Next may load this module twice, so
 * the instance lives on globalThis). Metrics go to two readers: the Prometheus exporter behind /metrics
 * and the in-process time series. Traces are exported over OTLP only when OTEL_EXPORTER_OTLP_ENDPOINT
 * (or ..._TRACES_ENDPOINT) is set; otherwise spans are not recorded but still carry trace ids, which
 * logs and problem+json bodies show. STATEHOUSE_TELEMETRY=off turns metrics and traces off (benchmarks).
 */
export function startTelemetry(env: Record<string, string | undefined> = process.env): Telemetry {
  const existing = holder[KEY];
  if (existing) return existing;

  // The resolution can be shortened for tests (STATEHOUSE_TIMESERIES_RESOLUTION_MS); 10 s otherwise.
  const resolutionMs =
    Number(env.STATEHOUSE_TIMESERIES_RESOLUTION_MS) > 0
      ? Number(env.STATEHOUSE_TIMESERIES_RESOLUTION_MS)
      : TIME_SERIES_RESOLUTION_MS;
  const timeSeries = new TimeSeriesStore(6 * 3600_000, resolutionMs);
  if (env.STATEHOUSE_TELEMETRY === "off") {
    const meter = metrics.getMeterProvider().getMeter("statehouse-disabled");
    const telemetry: Telemetry = {
      enabled: false,
      meter,
      tracer: trace.getTracer("statehouse-disabled"),
      instruments: createInstruments(meter),
      timeSeries,
      flushTimeSeries: async () => {},
      tracesExported: false,
      shutdown: async () => {},
    };
    return (holder[KEY] = telemetry);
  }

  const resource = resourceFromAttributes({
    "service.name": env.OTEL_SERVICE_NAME ?? "statehouse",
    "service.version": packageVersion(),
  });
  // Hot-path instruments record into FastMetrics; each reader pulls them through its own producer.
  const fast = new FastMetrics({ name: "statehouse", version: packageVersion() });
  const prometheus = new PrometheusExporter({
    preventServerStart: true,
    metricProducers: [fast.producer(AggregationTemporality.CUMULATIVE)],
  });
  const seriesReader = new PeriodicExportingMetricReader({
    exporter: timeSeries,
    exportIntervalMillis: resolutionMs,
    exportTimeoutMillis: Math.min(resolutionMs, 30_000),
    metricProducers: [fast.producer(AggregationTemporality.DELTA)],
  });
  const meterProvider = new MeterProvider({ resource, readers: [prometheus, seriesReader] });
  metrics.setGlobalMeterProvider(meterProvider);

  const otlp = env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const tracesExported = Boolean(otlp) && env.OTEL_TRACES_EXPORTER !== "none";
  const tracerProvider = new NodeTracerProvider({
    resource,
    sampler: tracesExported ? samplerFromEnv(env) : new AlwaysOffSampler(),
    spanProcessors: tracesExported ? [new BatchSpanProcessor(new OTLPTraceExporter())] : [],
  });
  tracerProvider.register();

  const meter = meterProvider.getMeter("statehouse", packageVersion());
  const telemetry: Telemetry = {
    enabled: true,
    meter,
    tracer: tracerProvider.getTracer("statehouse", packageVersion()),
    instruments: createFastInstruments(fast),
    prometheus,
    timeSeries,
    tracesExported,
    flushTimeSeries: () => seriesReader.forceFlush(),
    async shutdown() {
      await Promise.allSettled([meterProvider.shutdown(), tracerProvider.shutdown()]);
      holder[KEY] = undefined;
    },
  };
  return (holder[KEY] = telemetry);
}

function samplerFromEnv(env: Record<string, string | undefined>): Sampler {
  const ratio = Number(env.OTEL_TRACES_SAMPLER_ARG ?? "1");
  switch (env.OTEL_TRACES_SAMPLER) {
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return new TraceIdRatioBasedSampler(ratio);
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

let version: string | undefined;
function packageVersion(): string {
  if (version) return version;
  try {
    version = (JSON.parse(readFileSync(path.resolve("package.json"), "utf8")) as { version: string }).version;
  } catch {
    version = "0.0.0";
  }
  return version;
}
