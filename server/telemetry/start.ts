// Starts OpenTelemetry once per process through the SDK (NodeSDK): metric readers, tracing, resource.
import { readFileSync } from "node:fs";
import path from "node:path";
import { context, type Meter, metrics, propagation, type Tracer, trace } from "@opentelemetry/api";
import { getBooleanFromEnv, getStringFromEnv } from "@opentelemetry/core";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import { AggregationTemporality, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { NodeSDK } from "@opentelemetry/sdk-node";
import { AlwaysOffSampler, NoopSpanProcessor } from "@opentelemetry/sdk-trace";
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions";
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
  /** Whether spans are exported (an OTLP endpoint or an explicit OTEL_TRACES_EXPORTER is set). */
  readonly tracesExported: boolean;
  shutdown(): Promise<void>;
}

const KEY = Symbol.for("statehouse.telemetry");
const holder = globalThis as unknown as Record<symbol, Telemetry | undefined>;

export const TIME_SERIES_RESOLUTION_MS = 10_000;

/**
 * Starts OpenTelemetry once per process and returns the same instance to every caller (server/main.ts
 * calls it first; instrumentation.ts calls it under `next start`; Next may load this module twice, so
 * the instance lives on globalThis).
 *
 * The SDK (`NodeSDK`) reads the standard `OTEL_*` variables itself: `OTEL_SDK_DISABLED`,
 * `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER(_ARG)`, `OTEL_EXPORTER_OTLP_*`,
 * `OTEL_PROPAGATORS`, `OTEL_BSP_*`. Statehouse differs from the SDK's defaults in three places:
 * - metrics go to two readers, the Prometheus exporter behind /metrics and the in-process time series
 *   (both also read the hot path's fast instruments), never to an OTLP metrics exporter;
 * - traces (and logs) are exported only when an OTLP endpoint or an exporter is configured; the SDK
 *   alone would send them to localhost:4318 with nothing listening, which cost a third of throughput.
 *   Unexported, spans are not recorded but still carry trace ids, which logs and problem+json show;
 * - the resource defaults to service.name "statehouse" and the package's service.version.
 * `OTEL_SDK_DISABLED=true` (or `STATEHOUSE_TELEMETRY=off`, for benchmarks) turns everything off:
 * no-op instruments and tracer, nothing served at /metrics but an empty exposition.
 */
export function startTelemetry(): Telemetry {
  const existing = holder[KEY];
  if (existing) return existing;

  // The resolution can be shortened for tests (STATEHOUSE_TIMESERIES_RESOLUTION_MS); 10 s otherwise.
  const resolutionMs =
    Number(process.env.STATEHOUSE_TIMESERIES_RESOLUTION_MS) > 0
      ? Number(process.env.STATEHOUSE_TIMESERIES_RESOLUTION_MS)
      : TIME_SERIES_RESOLUTION_MS;
  const timeSeries = new TimeSeriesStore(6 * 3600_000, resolutionMs);
  // Read with the SDK's own parser, so this agrees with NodeSDK, which then registers nothing at all.
  if (process.env.STATEHOUSE_TELEMETRY === "off" || getBooleanFromEnv("OTEL_SDK_DISABLED")) {
    return (holder[KEY] = disabled(timeSeries));
  }

  const version = packageVersion();
  // Hot-path instruments record into FastMetrics; each reader pulls them through its own producer.
  const fast = new FastMetrics({ name: "statehouse", version });
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
  const tracesExported = exportConfigured("TRACES");
  const sdk = new NodeSDK({
    // Defaults only: the SDK merges its env detector over them (OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME).
    resource: defaultResource().merge(
      resourceFromAttributes({ [ATTR_SERVICE_NAME]: "statehouse", [ATTR_SERVICE_VERSION]: version }),
    ),
    metricReaders: [prometheus, seriesReader],
    // Unexported, a tracer provider is still registered (the SDK registers none without a processor), so
    // requests get real trace ids; the sampler drops every span before it is recorded.
    ...(tracesExported ? {} : { spanProcessors: [new NoopSpanProcessor()], sampler: new AlwaysOffSampler() }),
    // Statehouse logs JSON lines itself; an OTLP log pipeline is built only when asked for.
    ...(exportConfigured("LOGS") ? {} : { logRecordProcessors: [] }),
  });
  sdk.start();

  const telemetry: Telemetry = {
    enabled: true,
    meter: metrics.getMeter("statehouse", version),
    tracer: trace.getTracer("statehouse", version),
    instruments: createFastInstruments(fast),
    prometheus,
    timeSeries,
    tracesExported,
    flushTimeSeries: () => seriesReader.forceFlush(),
    async shutdown() {
      await sdk.shutdown().catch(() => {});
      // The API's globals are set once per registration: free them so a later start registers anew.
      for (const api of [metrics, trace, propagation, context]) api.disable();
      holder[KEY] = undefined;
    },
  };
  return (holder[KEY] = telemetry);
}

/** No-op instruments and tracer, as the OpenTelemetry API gives them with no SDK registered. */
function disabled(timeSeries: TimeSeriesStore): Telemetry {
  const meter = metrics.getMeterProvider().getMeter("statehouse-disabled");
  return {
    enabled: false,
    meter,
    tracer: trace.getTracer("statehouse-disabled"),
    instruments: createInstruments(meter),
    timeSeries,
    flushTimeSeries: async () => {},
    tracesExported: false,
    async shutdown() {
      holder[KEY] = undefined;
    },
  };
}

/**
 * Whether the SDK should build a signal's exporters from the environment: when an OTLP endpoint
 * (general or per signal) or an exporter other than `none` is set. Left to itself, the SDK would build
 * an OTLP exporter for localhost:4318 whenever nothing is set.
 */
function exportConfigured(signal: "TRACES" | "LOGS"): boolean {
  const exporter = getStringFromEnv(`OTEL_${signal}_EXPORTER`)?.trim();
  if (exporter) return exporter !== "none";
  return Boolean(
    getStringFromEnv("OTEL_EXPORTER_OTLP_ENDPOINT") || getStringFromEnv(`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`),
  );
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
