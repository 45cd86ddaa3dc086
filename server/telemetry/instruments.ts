import type { Attributes, Meter } from "@opentelemetry/api";
import type { CounterRecorder, FastMetrics, HistogramRecorder } from "./fast-metrics";

/** Seconds; fine enough at the bottom to resolve sub-millisecond Redis calls. */
export const DURATION_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
/** OpenTelemetry's GenAI semantic conventions' advised buckets: seconds of a model call, and tokens. */
const GEN_AI_DURATION_BUCKETS = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
const GEN_AI_TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216];
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
  genAiOperationDuration: HistogramRecorder;
  genAiTokenUsage: HistogramRecorder;
  memorySearchDuration: HistogramRecorder;
  memoryExtractionDuration: HistogramRecorder;
  memoryRecalls: CounterRecorder;
}

type Spec = { name: string; description: string } & ({ unit: string; buckets: number[] } | { unit?: undefined });

/** One line an instrument: its metric name, unit and buckets (histograms), and description. */
const SPECS: Record<keyof Instruments, Spec> = {
  operationDuration: {
    name: "statehouse.state.operation.duration",
    unit: "s",
    buckets: DURATION_BUCKETS,
    description:
      "Duration of state operations, per tier (hot, warm, cold) and for the tiered store as a whole (tiered)",
  },
  cacheRequests: {
    name: "statehouse.cache.requests",
    description: "Reads per tier that found the record (hit) or not (miss)",
  },
  conflicts: {
    name: "statehouse.state.conflicts",
    description: "Writes refused because the expected version did not match",
  },
  size: { name: "statehouse.state.size", unit: "By", buckets: SIZE_BUCKETS, description: "Size of values at write" },
  lifecycleEvents: {
    name: "statehouse.lifecycle.events",
    description: "Lifecycle actions: size warnings and rejections, expiries, archives, restores, hot repairs",
  },
  agentTurnDuration: {
    name: "statehouse.agent.turn.duration",
    unit: "s",
    buckets: DURATION_BUCKETS,
    description: "Agent turns, end to end",
  },
  httpServerDuration: {
    name: "statehouse.http.server.duration",
    unit: "s",
    buckets: DURATION_BUCKETS,
    description: "HTTP requests by route template, method and status",
  },
  // Model calls, in OpenTelemetry's GenAI semantic conventions (gen_ai.operation.name, gen_ai.provider.name).
  genAiOperationDuration: {
    name: "gen_ai.client.operation.duration",
    unit: "s",
    buckets: GEN_AI_DURATION_BUCKETS,
    description: "GenAI operation duration: agents' model calls (the offline model's too)",
  },
  genAiTokenUsage: {
    name: "gen_ai.client.token.usage",
    unit: "{token}",
    buckets: GEN_AI_TOKEN_BUCKETS,
    description:
      "Tokens used per model call, by gen_ai.token.type (input, output); estimated at four characters a token",
  },
  memorySearchDuration: {
    name: "statehouse.memory.search.duration",
    unit: "s",
    buckets: DURATION_BUCKETS,
    description: "Hybrid searches of long-term memories and LangGraph store items, by target (memories, store)",
  },
  memoryExtractionDuration: {
    name: "statehouse.memory.extraction.duration",
    unit: "s",
    buckets: DURATION_BUCKETS,
    description:
      "Promoting what one agent turn taught to long-term memories (extraction and writes), off the request path",
  },
  memoryRecalls: {
    name: "statehouse.memory.recalls",
    description: "Turns of agents with long-term memory, by result: used (memories joined the context), empty, failed",
  },
};

function build(make: (spec: Spec) => HistogramRecorder | CounterRecorder): Instruments {
  return Object.fromEntries(
    Object.entries(SPECS).map(([field, spec]) => [field, make(spec)]),
  ) as unknown as Instruments;
}

/** The same instruments on the hot path's fast recorders (server/telemetry/fast-metrics.ts). */
export function createFastInstruments(fast: FastMetrics): Instruments {
  return build((spec) =>
    spec.unit === undefined
      ? fast.counter(spec.name, { description: spec.description })
      : fast.histogram(spec.name, { unit: spec.unit, description: spec.description, boundaries: spec.buckets }),
  );
}

/** The instruments on an OpenTelemetry meter (any SDK reader can read them back; used by tests). */
export function createInstruments(meter: Meter): Instruments {
  // The SDK's third parameter is a context, not a key: drop the key.
  return build((spec): HistogramRecorder | CounterRecorder => {
    if (spec.unit === undefined) {
      const counter = meter.createCounter(spec.name, { description: spec.description });
      return { add: (v: number, a?: Attributes) => counter.add(v, a) };
    }
    const histogram = meter.createHistogram(spec.name, {
      unit: spec.unit,
      description: spec.description,
      advice: { explicitBucketBoundaries: spec.buckets },
    });
    return { record: (v: number, a?: Attributes) => histogram.record(v, a) };
  });
}

/** An observable gauge, declared on one line (name, unit or undefined, description): the gauges' modules list many. */
export function gauge(meter: Meter, name: string, unit: string | undefined, description: string) {
  return meter.createObservableGauge(name, unit ? { unit, description } : { description });
}
