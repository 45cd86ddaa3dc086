// A local OTLP/HTTP receiver (JSON encoding) that keeps every span and resource it is sent: what a
// collector would get from Statehouse (or the telemetry probe) configured with `env`.
import { createServer } from "node:http";

export type OtlpAttribute = { key: string; value: { stringValue?: string } };
export type OtlpSpan = { traceId: string; spanId: string; parentSpanId?: string; name: string };

type TraceBatch = {
  resourceSpans: { resource: { attributes: OtlpAttribute[] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
};

export interface OtlpReceiver {
  port: number;
  /** The OTEL_* variables that send traces here, over http/json. */
  env: { OTEL_EXPORTER_OTLP_ENDPOINT: string; OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" };
  /** Every span received so far, in the order the batches arrived. */
  spans(): OtlpSpan[];
  /** The resource of every batch received so far, as attribute name → string value. */
  resources(): Record<string, string | undefined>[];
  close(): Promise<unknown>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const batches: TraceBatch[] = [];
  const server = createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    if (req.url === "/v1/traces") batches.push(JSON.parse(body));
    res.writeHead(200, { "content-type": "application/json" });
    res.end("{}");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" },
    spans: () => batches.flatMap((b) => b.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((s) => s.spans))),
    resources: () =>
      batches.flatMap((b) =>
        b.resourceSpans.map((rs) =>
          Object.fromEntries(rs.resource.attributes.map((a) => [a.key, a.value.stringValue])),
        ),
      ),
    close: () => new Promise((r) => server.close(r)),
  };
}

/** Runs `fn` with a started receiver, closed afterwards whether `fn` passed or threw. */
export async function withOtlpReceiver<T>(fn: (receiver: OtlpReceiver) => Promise<T>): Promise<T> {
  const receiver = await startOtlpReceiver();
  try {
    return await fn(receiver);
  } finally {
    await receiver.close();
  }
}
