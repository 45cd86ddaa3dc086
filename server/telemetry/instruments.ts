import type { Counter, Histogram, Meter } from "@opentelemetry/api";

/** Seconds; fine enough at the bottom to resolve sub-millisecond Redis calls. */
export const DURATION_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Bytes, 64 B … 16 MiB. */
export const SIZE_BUCKETS = [64, 256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216];

/**
 * The instruments of design.md's Telemetry table. Attributes stay low-cardinality: operation, tier,
 * namespace (declared ones only), outcome, result, route templates — never a tenant, key or session id.
 */
export interface Instruments {
  operationDuration: Histogram;
  cacheRequests: Counter;
  conflicts: Counter;
  size: Histogram;
  lifecycleEvents: Counter;
  agentTurnDuration: Histogram;
  httpServerDuration: Histogram;
}

export function createInstruments(meter: Meter): Instruments {
  return {
    operationDuration: meter.createHistogram("statehouse.state.operation.duration", {
      unit: "s",
      description: "Duration of state operations, per tier (hot, warm, cold) and for the tiered store as a whole (tiered)",
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    }),
    cacheRequests: meter.createCounter("statehouse.cache.requests", { description: "Reads per tier that found the record (hit) or not (miss)" }),
    conflicts: meter.createCounter("statehouse.state.conflicts", { description: "Writes refused because the expected version did not match" }),
    size: meter.createHistogram("statehouse.state.size", { unit: "By", description: "Size of values at write", advice: { explicitBucketBoundaries: SIZE_BUCKETS } }),
    lifecycleEvents: meter.createCounter("statehouse.lifecycle.events", { description: "Lifecycle actions: size warnings and rejections, expiries, archives, restores, hot repairs" }),
    agentTurnDuration: meter.createHistogram("statehouse.agent.turn.duration", { unit: "s", description: "Agent turns, end to end", advice: { explicitBucketBoundaries: DURATION_BUCKETS } }),
    httpServerDuration: meter.createHistogram("statehouse.http.server.duration", { unit: "s", description: "HTTP requests by route template, method and status", advice: { explicitBucketBoundaries: DURATION_BUCKETS } }),
  };
}
