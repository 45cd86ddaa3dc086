// Test helper: starts telemetry in a process of its own, under the environment the test chose (the SDK
// reads OTEL_* from process.env once), exercises it as the server does, and prints what it saw as JSON.
import diagnostics from "node:diagnostics_channel";
import type { Socket } from "node:net";

// Every TCP connection this process opens (attempted or made): the probe itself opens none.
const connections: string[] = [];
diagnostics.subscribe("net.client.socket", (message) => {
  const socket = (message as { socket: Socket }).socket;
  connections.push("opened");
  socket.once("connect", () => connections.push(`connected ${socket.remoteAddress}:${socket.remotePort}`));
  socket.once("error", (err: Error & { address?: string; port?: number }) =>
    connections.push(`failed ${err.address}:${err.port} ${(err as { code?: string }).code}`),
  );
});

const { startTelemetry } = await import("../../server/telemetry/start");
const { PrometheusSerializer } = await import("@opentelemetry/exporter-prometheus");

const telemetry = startTelemetry();
// A second copy of the module (as Next's route bundles load it) must find the same instance.
const copy = (await import(`../../server/telemetry/start.ts?copy=${Date.now()}`)) as {
  startTelemetry: typeof startTelemetry;
};

telemetry.instruments.operationDuration.record(0.002, {
  operation: "get",
  tier: "hot",
  namespace: "kv",
  outcome: "ok",
});
telemetry.instruments.cacheRequests.add(1, { tier: "hot", namespace: "kv", result: "hit" });

const spans: { traceId: string; recording: boolean; sampled: boolean }[] = [];
for (let i = 0; i < Number(process.env.PROBE_SPANS ?? 20); i++) {
  telemetry.tracer.startActiveSpan("probe request", (span) => {
    const ctx = span.spanContext();
    spans.push({ traceId: ctx.traceId, recording: span.isRecording(), sampled: (ctx.traceFlags & 1) === 1 });
    span.end();
  });
}

const metricsText = telemetry.prometheus
  ? new PrometheusSerializer().serialize((await telemetry.prometheus.collect()).resourceMetrics)
  : null;
await telemetry.flushTimeSeries();
const timeSeriesMetrics = telemetry.timeSeries.metricNames();
const result = {
  enabled: telemetry.enabled,
  tracesExported: telemetry.tracesExported,
  sameInstance: startTelemetry() === telemetry,
  sameAcrossModuleCopies: copy.startTelemetry() === telemetry,
  spans,
  metricsText,
  timeSeriesMetrics,
};
await telemetry.shutdown(); // flushes the span processor: whatever would be exported has been sent
await new Promise((r) => setTimeout(r, 200)); // a refused connection reports its error asynchronously
process.stdout.write(`${JSON.stringify({ ...result, connections })}\n`);
