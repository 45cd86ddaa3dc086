// Instruments read back through an in-memory metric reader: each state operation, hit, miss, conflict
// and size is recorded once, with the right attributes and nothing identifying.
import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import {
  AggregationTemporality,
  DataPointType,
  MeterProvider,
  MetricReader,
  PeriodicExportingMetricReader,
  type ResourceMetrics,
} from "@opentelemetry/sdk-metrics";
import { MemoryStore } from "../../server/state/memory";
import { TieredStore } from "../../server/state/tiered";
import { adminMetrics } from "../../server/telemetry/admin-metrics";
import { createInstruments, DURATION_BUCKETS } from "../../server/telemetry/instruments";
import { instrumented } from "../../server/telemetry/instrumented";
import { TimeSeriesStore } from "../../server/telemetry/time-series";
import { withOtlpReceiver } from "../helpers/otlp-receiver";

class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

type Row = { attributes: Record<string, string>; value: number; sum?: number };

function rows(rm: ResourceMetrics, name: string): Row[] {
  const metric = rm.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name);
  if (!metric) return [];
  return metric.dataPoints.map((dp) => {
    const attributes = dp.attributes as Record<string, string>;
    if (metric.dataPointType === DataPointType.HISTOGRAM) {
      const h = dp.value as { count: number; sum?: number };
      return { attributes, value: h.count, sum: h.sum };
    }
    return { attributes, value: dp.value as number };
  });
}

const ALLOWED_ATTRIBUTES = new Set(["operation", "tier", "namespace", "outcome", "result"]);

function setup() {
  const reader = new TestReader();
  const provider = new MeterProvider({ readers: [reader] });
  const instruments = createInstruments(provider.getMeter("test"));
  const namespaceLabel = (ns: string) => (ns === "kv" ? ns : "other");
  const hot = new MemoryStore();
  const warm = new MemoryStore();
  const tiered = new TieredStore({
    hot: instrumented(hot, { tier: "hot", instruments, namespaceLabel }),
    warm: instrumented(warm, { tier: "warm", instruments, namespaceLabel }),
    durabilityOf: () => "durable",
  });
  const store = instrumented(tiered, { tier: "tiered", instruments, namespaceLabel });
  return { reader, store, hot, close: () => tiered.close() };
}

describe("telemetry by wrapping stores", () => {
  const ref = { tenant: "acme-secret-tenant", namespace: "kv", key: "user-secret-key" };

  it("records a write once per level, its size once, and the hot copy as a promote", async () => {
    const { reader, store, close } = setup();
    const rec = await store.put(ref, { hello: "world" });
    const { resourceMetrics } = await reader.collect();
    const durations = rows(resourceMetrics, "statehouse.state.operation.duration");
    const byKey = (r: Row) => `${r.attributes.tier}/${r.attributes.operation}/${r.attributes.outcome}`;
    assert.deepEqual(durations.map(byKey).sort(), ["hot/promote/ok", "tiered/put/ok", "warm/put/ok"]);
    assert.ok(durations.every((d) => d.value === 1 && d.attributes.namespace === "kv"));
    const sizes = rows(resourceMetrics, "statehouse.state.size");
    assert.equal(sizes.length, 1);
    assert.equal(sizes[0]!.value, 1);
    assert.equal(sizes[0]!.sum, rec.sizeBytes);
    assert.deepEqual(rows(resourceMetrics, "statehouse.cache.requests"), []);
    await close();
  });

  it("counts a hot hit, and a miss in every tier it passed through", async () => {
    const { reader, store, close } = setup();
    await store.put(ref, 1);
    await store.get(ref);
    await store.get({ ...ref, key: "absent" });
    const { resourceMetrics } = await reader.collect();
    const cache = rows(resourceMetrics, "statehouse.cache.requests")
      .map((r) => `${r.attributes.tier}/${r.attributes.result}=${r.value}`)
      .sort();
    assert.deepEqual(cache, ["hot/hit=1", "hot/miss=1", "warm/miss=1"]);
    const tieredGets = rows(resourceMetrics, "statehouse.state.operation.duration").filter(
      (r) => r.attributes.tier === "tiered" && r.attributes.operation === "get",
    );
    assert.deepEqual(tieredGets.map((r) => `${r.attributes.outcome}=${r.value}`).sort(), ["miss=1", "ok=1"]);
    await close();
  });

  it("counts a conflict exactly once, with namespace and operation", async () => {
    const { reader, store, close } = setup();
    await store.put(ref, 1);
    await assert.rejects(store.put(ref, 2, { ifVersion: 7 }), { code: "version_conflict" });
    await assert.rejects(store.delete(ref, { ifVersion: 7 }), { code: "version_conflict" });
    const { resourceMetrics } = await reader.collect();
    const conflicts = rows(resourceMetrics, "statehouse.state.conflicts")
      .map((r) => `${r.attributes.namespace}/${r.attributes.operation}=${r.value}`)
      .sort();
    assert.deepEqual(conflicts, ["kv/delete=1", "kv/put=1"]);
    const outcomes = rows(resourceMetrics, "statehouse.state.operation.duration")
      .filter((r) => r.attributes.outcome === "conflict")
      .map((r) => `${r.attributes.tier}/${r.attributes.operation}`)
      .sort();
    assert.deepEqual(outcomes, ["tiered/delete", "tiered/put", "warm/delete", "warm/put"]);
    await close();
  });

  it("never puts a tenant, key or value in an attribute, and collapses undeclared namespaces", async () => {
    const { reader, store, close } = setup();
    await store.put(ref, "x");
    await store.get(ref);
    await store.put({ ...ref, namespace: "made-up-by-a-caller" }, 1);
    const { resourceMetrics } = await reader.collect();
    const all = resourceMetrics.scopeMetrics
      .flatMap((s) => s.metrics)
      .flatMap((m) => m.dataPoints.map((d) => d.attributes as Record<string, string>));
    for (const attrs of all) {
      for (const [k, v] of Object.entries(attrs)) {
        assert.ok(ALLOWED_ATTRIBUTES.has(k), `unexpected attribute ${k}`);
        assert.doesNotMatch(String(v), /secret/);
      }
    }
    assert.ok(all.some((a) => a.namespace === "other"));
    assert.ok(!all.some((a) => a.namespace === "made-up-by-a-caller"));
    await close();
  });

  it("a failing telemetry pipeline never fails the operation", async () => {
    const hot = new MemoryStore();
    const broken = {
      record: () => {
        throw new Error("boom");
      },
      add: () => {
        throw new Error("boom");
      },
    };
    const instruments = {
      operationDuration: broken,
      cacheRequests: broken,
      conflicts: broken,
      size: broken,
      lifecycleEvents: broken,
      agentTurnDuration: broken,
      httpServerDuration: broken,
    } as never;
    const store = instrumented(hot, { tier: "hot", instruments, namespaceLabel: (n) => n });
    const rec = await store.put(ref, 1);
    assert.equal(rec.version, 1);
    assert.equal((await store.get(ref))?.value, 1);
    await hot.close();
  });
});

describe("admin metrics from the in-process time series", () => {
  /** Prometheus' histogram_quantile, written out again here from raw samples and the bucket bounds. */
  function expectedQuantile(q: number, samples: number[]): number {
    const bounds = [...DURATION_BUCKETS, Number.POSITIVE_INFINITY];
    const counts = bounds.map((b, i) => samples.filter((s) => s <= b && (i === 0 || s > bounds[i - 1]!)).length);
    const rank = q * samples.length;
    let cumulative = 0;
    for (let i = 0; i < bounds.length; i++) {
      if (cumulative + counts[i]! >= rank && counts[i]! > 0) {
        const lower = i === 0 ? 0 : bounds[i - 1]!;
        if (!Number.isFinite(bounds[i]!)) return lower;
        return lower + ((bounds[i]! - lower) * (rank - cumulative)) / counts[i]!;
      }
      cumulative += counts[i]!;
    }
    return Number.NaN;
  }

  it("percentiles agree with a direct computation over the same recorded samples", async () => {
    const series = new TimeSeriesStore();
    const reader = new PeriodicExportingMetricReader({ exporter: series, exportIntervalMillis: 3_600_000 });
    const provider = new MeterProvider({ readers: [reader] });
    const instruments = createInstruments(provider.getMeter("test"));
    // Deterministic, skewed samples: mostly sub-millisecond (hot) with a slow tail.
    let seed = 42;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const samples = { hot: [] as number[], warm: [] as number[] };
    for (let i = 0; i < 5000; i++) {
      const hot = rand() < 0.97 ? 0.00005 + rand() * 0.0008 : 0.002 + rand() * 0.05;
      const warm = 0.0008 + rand() * rand() * 0.2;
      samples.hot.push(hot);
      samples.warm.push(warm);
      instruments.operationDuration.record(hot, {
        operation: "get",
        tier: "hot",
        namespace: "kv",
        outcome: i % 2 ? "ok" : "miss",
      });
      instruments.operationDuration.record(warm, {
        operation: "get",
        tier: "warm",
        namespace: i % 3 ? "kv" : "sessions",
        outcome: "ok",
      });
    }
    instruments.conflicts.add(30, { namespace: "kv", operation: "put" });
    instruments.cacheRequests.add(75, { tier: "hot", namespace: "kv", result: "hit" });
    instruments.cacheRequests.add(25, { tier: "hot", namespace: "kv", result: "miss" });
    await reader.forceFlush();

    const m = adminMetrics(series, "15m");
    for (const tier of ["hot", "warm"] as const) {
      const row = m.latency.find((l) => l.tier === tier && l.operation === "get")!;
      assert.equal(row.count, 5000);
      for (const [q, reported] of [
        [0.5, row.p50],
        [0.95, row.p95],
        [0.99, row.p99],
      ] as const) {
        const expected = expectedQuantile(q, samples[tier]);
        assert.ok(
          Math.abs(reported! - expected) < 1e-6,
          `${tier} p${q * 100}: reported ${reported}, expected ${expected}`,
        );
        // And the exact sample quantile lies in the same bucket as the estimate.
        const sorted = [...samples[tier]].sort((a, b) => a - b);
        const exact = sorted[Math.ceil(q * sorted.length) - 1]!;
        const bucket = (v: number) => DURATION_BUCKETS.findIndex((b) => v <= b);
        assert.ok(
          Math.abs(bucket(exact) - bucket(reported!)) <= 1,
          `${tier} p${q * 100}: exact ${exact} vs ${reported}`,
        );
      }
    }
    assert.deepEqual(m.hitRatio, [{ tier: "hot", hits: 75, misses: 25, ratio: 0.75 }]);
    assert.equal(m.conflicts.total, 30);
    assert.equal(m.conflicts.perMinute, 2);
    await provider.shutdown();
  });
});

describe("fast instruments", () => {
  it("report exactly what the OpenTelemetry SDK reports for the same recordings, cumulative and delta", async () => {
    const { FastMetrics } = await import("../../server/telemetry/fast-metrics");
    const { createFastInstruments } = await import("../../server/telemetry/instruments");
    const sdkReader = new TestReader();
    const sdk = createInstruments(new MeterProvider({ readers: [sdkReader] }).getMeter("sdk"));
    const fast = new FastMetrics({ name: "fast" });
    const quick = createFastInstruments(fast);
    const cumulative = fast.producer(AggregationTemporality.CUMULATIVE);
    const delta = fast.producer(AggregationTemporality.DELTA);
    const record = (n: number) => {
      for (let i = 0; i < n; i++) {
        const v = (i % 37) * 0.00137 + (i % 5) * 0.3;
        const attrs = {
          operation: i % 3 ? "get" : "put",
          tier: "hot",
          namespace: "kv",
          outcome: i % 7 ? "ok" : "miss",
        };
        sdk.operationDuration.record(v, attrs);
        quick.operationDuration.record(v, attrs);
        sdk.cacheRequests.add(1, { tier: "hot", namespace: "kv", result: i % 4 ? "hit" : "miss" });
        quick.cacheRequests.add(1, { tier: "hot", namespace: "kv", result: i % 4 ? "hit" : "miss" });
      }
    };
    const normalize = (rm: ResourceMetrics) =>
      rm.scopeMetrics
        .flatMap((s) => s.metrics)
        .filter((m) => m.dataPoints.length)
        .map((m) => ({
          name: m.descriptor.name,
          points: m.dataPoints
            .map((d) => ({
              attributes: d.attributes,
              value:
                typeof d.value === "number"
                  ? d.value
                  : {
                      counts: (d.value as { buckets: { counts: number[] } }).buckets.counts,
                      count: (d.value as { count: number }).count,
                      sum: Number((d.value as { sum: number }).sum.toFixed(9)),
                    },
            }))
            .sort((a, b) => JSON.stringify(a.attributes).localeCompare(JSON.stringify(b.attributes))),
        }))
        .sort((a, b) => a.name.localeCompare(b.name));
    record(500);
    const fromSdk = normalize((await sdkReader.collect()).resourceMetrics);
    assert.deepEqual(normalize((await cumulative.collect()).resourceMetrics), fromSdk);
    assert.deepEqual(
      normalize((await delta.collect()).resourceMetrics),
      fromSdk,
      "the first delta is everything so far",
    );
    record(200);
    const second = normalize((await delta.collect()).resourceMetrics);
    const total = (name: string) =>
      second
        .find((m) => m.name === name)!
        .points.reduce((n, p) => n + (typeof p.value === "number" ? p.value : p.value.count), 0);
    assert.equal(total("statehouse.state.operation.duration"), 200, "the second delta holds only the new recordings");
    assert.equal(total("statehouse.cache.requests"), 200);
    assert.deepEqual(normalize((await delta.collect()).resourceMetrics), [], "nothing new, nothing reported");
  });
});

describe("startTelemetry through the OpenTelemetry SDK, configured by the standard OTEL_* variables", () => {
  type Span = { traceId: string; recording: boolean; sampled: boolean };
  type Probe = {
    enabled: boolean;
    tracesExported: boolean;
    sameInstance: boolean;
    sameAcrossModuleCopies: boolean;
    spans: Span[];
    metricsText: string | null;
    timeSeriesMetrics: string[];
    connections: string[];
  };

  /** Runs test/helpers/telemetry-probe.ts in its own process with exactly these OTEL_* variables. */
  async function probe(env: Record<string, string>, spans = 20): Promise<Probe> {
    const { execFile } = await import("node:child_process");
    const base = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !/^(OTEL_|STATEHOUSE_TELEMETRY)/.test(k)),
    );
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ["--import", "tsx", "test/helpers/telemetry-probe.ts"],
        {
          cwd: path.resolve(import.meta.dirname, "../.."),
          env: { ...base, ...env, PROBE_SPANS: String(spans) } as unknown as NodeJS.ProcessEnv,
          timeout: 60_000,
        },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
      ),
    );
    return JSON.parse(out.trim().split("\n").pop()!) as Probe;
  }

  const targetInfo = (text: string | null) => /^target_info\{(.*)\} 1$/m.exec(text ?? "")?.[1] ?? "";
  const realTraceIds = (spans: Span[]) =>
    spans.every((s) => /^[0-9a-f]{32}$/.test(s.traceId) && !/^0+$/.test(s.traceId)) &&
    new Set(spans.map((s) => s.traceId)).size === spans.length;

  it("starts once per process (a second copy of the module finds the same instance), both readers fed", async () => {
    const p = await probe({});
    assert.equal(p.enabled, true);
    assert.ok(p.sameInstance && p.sameAcrossModuleCopies);
    assert.match(
      p.metricsText!,
      /^statehouse_state_operation_duration_count\{.*\} 1$/m,
      "the fast instruments at /metrics",
    );
    assert.match(p.metricsText!, /^statehouse_cache_requests_total\{.*\} 1$/m);
    assert.deepEqual(p.timeSeriesMetrics.sort(), ["statehouse.cache.requests", "statehouse.state.operation.duration"]);
    assert.match(targetInfo(p.metricsText), /service_name="statehouse",service_version="\d+\.\d+\.\d+"/);
    // No endpoint and no OTEL_TRACES_EXPORTER: nothing exported and no connection at all (the SDK's own
    // default would send to localhost:4318), but every span still has a real trace id for logs and errors.
    assert.equal(p.tracesExported, false);
    assert.deepEqual(p.connections, []);
    assert.ok(realTraceIds(p.spans), JSON.stringify(p.spans.slice(0, 3)));
    assert.ok(p.spans.every((s) => !s.recording && !s.sampled));
  });

  it("OTEL_TRACES_EXPORTER alone turns export on (the SDK's OTLP default, localhost:4318); =none keeps it off", async () => {
    const otlp = await probe({ OTEL_TRACES_EXPORTER: "otlp", OTEL_EXPORTER_OTLP_TIMEOUT: "1000" }, 1);
    assert.equal(otlp.tracesExported, true);
    assert.ok(
      otlp.connections.some((c) => /(127\.0\.0\.1|::1):4318\b/.test(c)),
      `the SDK tried localhost:4318: ${otlp.connections.join("; ")}`,
    );
    await withOtlpReceiver(async (collector) => {
      const none = await probe({ ...collector.env, OTEL_TRACES_EXPORTER: "none" });
      assert.equal(none.tracesExported, false);
      assert.deepEqual(none.connections, []);
      assert.deepEqual(collector.spans(), []);
      assert.ok(realTraceIds(none.spans));
    });
  });

  it("with an endpoint, spans go to it under the default sampler, with OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME", async () => {
    await withOtlpReceiver(async (collector) => {
      const p = await probe({
        ...collector.env,
        OTEL_RESOURCE_ATTRIBUTES:
          "service.name=overridden,deployment.environment.name=staging,service.namespace=agents",
        OTEL_SERVICE_NAME: "orders-state",
      });
      assert.equal(p.tracesExported, true);
      assert.ok(p.connections.includes(`connected 127.0.0.1:${collector.port}`), p.connections.join("; "));
      assert.ok(
        p.spans.every((s) => s.recording && s.sampled),
        "parentbased_always_on: every root span sampled",
      );
      assert.deepEqual(
        collector
          .spans()
          .map((s) => s.traceId)
          .sort(),
        p.spans.map((s) => s.traceId).sort(),
      );
      // The spec: OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES, which wins over defaults.
      const info = targetInfo(p.metricsText);
      assert.match(info, /deployment_environment_name="staging"/);
      assert.match(info, /service_namespace="agents"/);
      assert.match(info, /service_name="orders-state"/);
      const resource = collector.resources()[0]!;
      assert.equal(resource["service.name"], "orders-state");
      assert.equal(resource["deployment.environment.name"], "staging");
    });
  });

  it("OTEL_TRACES_SAMPLER: always_off exports nothing; traceidratio samples about OTEL_TRACES_SAMPLER_ARG of traces", async () => {
    await withOtlpReceiver(async (collector) => {
      const off = await probe({ ...collector.env, OTEL_TRACES_SAMPLER: "always_off" });
      assert.equal(off.tracesExported, true);
      assert.ok(off.spans.every((s) => !s.recording && !s.sampled));
      assert.deepEqual(collector.spans(), []);
      const ratio = await probe(
        { ...collector.env, OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.25" },
        400,
      );
      const sampled = ratio.spans.filter((s) => s.sampled);
      // Binomial(400, 0.25): 100 ± 8.7; these bounds are over 4.5 standard deviations away.
      assert.ok(sampled.length >= 60 && sampled.length <= 140, `${sampled.length} of 400 sampled`);
      assert.deepEqual(
        collector
          .spans()
          .map((s) => s.traceId)
          .sort(),
        sampled.map((s) => s.traceId).sort(),
        "exactly the sampled spans are exported",
      );
    });
  });

  it("OTEL_SDK_DISABLED=true: no-op instruments and tracer, no /metrics data, nothing sent even with an endpoint", async () => {
    await withOtlpReceiver(async (collector) => {
      const p = await probe({ ...collector.env, OTEL_SDK_DISABLED: "TRUE" });
      assert.equal(p.enabled, false);
      assert.equal(p.tracesExported, false);
      assert.equal(p.metricsText, null, "no exporter: /metrics answers an empty exposition");
      assert.deepEqual(p.timeSeriesMetrics, []);
      assert.ok(
        p.spans.every((s) => !s.recording && /^0{32}$/.test(s.traceId)),
        "the API's no-op spans",
      );
      assert.deepEqual(p.connections, []);
      assert.deepEqual(collector.spans(), []);
    });
  });
});
