import type { Attributes, Meter } from "@opentelemetry/api";
import type { CounterRecorder, FastMetrics, HistogramRecorder } from "./fast-metrics";

/** Seconds; fine enough at the bottom to resolve sub-millisecond Redis calls. */
export const DURATION_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
/** Bytes, 64 B … 16 MiB. */
export const SIZE_BUCKETS = [64, 256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216];

/**
 * The instruments of design.md's Telemetry table. Attributes stay low-cardinality: operation, tier,
 * namespace (declared ones only), outcome, result, route templates — never a tenant, key or session id.
 */
export interface Instruments {
  operationDuration: HistogramRecorder;
  cacheRequests: CounterRecorder;
  conflicts: CounterRecorder;
  size: HistogramRecorder;
  lifecycleEvents: CounterRecorder;
  agentTurnDuration: HistogramRecorder;
  httpServerDuration: HistogramRecorder;
}

const DESCRIPTIONS = {
  operationDuration:
    "Duration of state operations, per tier (hot, warm, cold) and for the tiered store as a whole (tiered)",
  cacheRequests: "Reads per tier that found the record (hit) or not (miss)",
  conflicts: "Writes refused because the expected version did not match",
  size: "Size of values at write",
  lifecycleEvents: "Lifecycle actions: size warnings and rejections, expiries, archives, restores, hot repairs",
  agentTurnDuration: "Agent turns, end to end",
  httpServerDuration: "HTTP requests by route template, method and status",
};

/** The same instruments on the hot path's fast recorders (server/telemetry/fast-metrics.ts). */
export function createFastInstruments(fast: FastMetrics): Instruments {
  return {
    operationDuration: fast.histogram("statehouse.state.operation.duration", {
      unit: "s",
      description: DESCRIPTIONS.operationDuration,
      boundaries: DURATION_BUCKETS,
    }),
    cacheRequests: fast.counter("statehouse.cache.requests", { description: DESCRIPTIONS.cacheRequests }),
    conflicts: fast.counter("statehouse.state.conflicts", { description: DESCRIPTIONS.conflicts }),
    size: fast.histogram("statehouse.state.size", {
      unit: "By",
      description: DESCRIPTIONS.size,
      boundaries: SIZE_BUCKETS,
    }),
    lifecycleEvents: fast.counter("statehouse.lifecycle.events", { description: DESCRIPTIONS.lifecycleEvents }),
    agentTurnDuration: fast.histogram("statehouse.agent.turn.duration", {
      unit: "s",
      description: DESCRIPTIONS.agentTurnDuration,
      boundaries: DURATION_BUCKETS,
    }),
    httpServerDuration: fast.histogram("statehouse.http.server.duration", {
      unit: "s",
      description: DESCRIPTIONS.httpServerDuration,
      boundaries: DURATION_BUCKETS,
    }),
  };
}

/** The instruments on an OpenTelemetry meter (any SDK reader can read them back; used by tests). */
export function createInstruments(meter: Meter): Instruments {
  // The SDK's third parameter is a context, not a key: drop the key.
  const h = (x: { record(v: number, a?: Attributes): void }): HistogramRecorder => ({
    record: (v, a) => x.record(v, a),
  });
  const c = (x: { add(v: number, a?: Attributes): void }): CounterRecorder => ({ add: (v, a) => x.add(v, a) });
  const sdk = {
    operationDuration: meter.createHistogram("statehouse.state.operation.duration", {
      unit: "s",
      description:
        "Duration of state operations, per tier (hot, warm, cold) and for the tiered store as a whole (tiered)",
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    }),
    cacheRequests: meter.createCounter("statehouse.cache.requests", {
      description: "Reads per tier that found the record (hit) or not (miss)",
    }),
    conflicts: meter.createCounter("statehouse.state.conflicts", {
      description: "Writes refused because the expected version did not match",
    }),
    size: meter.createHistogram("statehouse.state.size", {
      unit: "By",
      description: "Size of values at write",
      advice: { explicitBucketBoundaries: SIZE_BUCKETS },
    }),
    lifecycleEvents: meter.createCounter("statehouse.lifecycle.events", {
      description: "Lifecycle actions: size warnings and rejections, expiries, archives, restores, hot repairs",
    }),
    agentTurnDuration: meter.createHistogram("statehouse.agent.turn.duration", {
      unit: "s",
      description: "Agent turns, end to end",
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    }),
    httpServerDuration: meter.createHistogram("statehouse.http.server.duration", {
      unit: "s",
      description: "HTTP requests by route template, method and status",
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    }),
  };
  return {
    operationDuration: h(sdk.operationDuration),
    cacheRequests: c(sdk.cacheRequests),
    conflicts: c(sdk.conflicts),
    size: h(sdk.size),
    lifecycleEvents: c(sdk.lifecycleEvents),
    agentTurnDuration: h(sdk.agentTurnDuration),
    httpServerDuration: h(sdk.httpServerDuration),
  };
}

/** An observable gauge, declared on one line (name, unit or undefined, description): the gauges' modules list many. */
export function gauge(meter: Meter, name: string, unit: string | undefined, description: string) {
  return meter.createObservableGauge(name, unit ? { unit, description } : { description });
}
