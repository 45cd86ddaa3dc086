import { type Span, SpanStatusCode, type Tracer } from "@opentelemetry/api";
import { isStateError } from "../state/errors";
import type { StateRecord, StateStore, TierName, TransactionOp } from "../state/store";
import { attributeKey } from "./fast-metrics";
import type { Instruments } from "./instruments";

export interface InstrumentOptions {
  /** The tier measured, or "tiered" for the composition as product code sees it. */
  tier: TierName | "tiered";
  instruments: Instruments;
  tracer?: Tracer;
  /** Maps a namespace to its attribute value; undeclared names collapse to one value (cardinality). */
  namespaceLabel(namespace: string): string;
}

type Outcome = "ok" | "miss" | "conflict" | "invalid" | "not_found" | "unsupported" | "error";

const OPERATIONS = {
  get: "get",
  put: "put",
  delete: "delete",
  erase: "erase",
  list: "list",
  history: "history",
  getVersion: "version",
  transact: "transaction",
  setIfNewer: "promote",
  importRecord: "restore",
  dropArchived: "drop_archived",
  touch: "touch",
} as const;

/**
 * Wraps a store so every call records `statehouse.state.operation.duration` {operation, tier,
 * namespace, outcome} and runs in a span. Per tier, reads also count `statehouse.cache.requests`
 * (hit/miss); at the tiered level (`tier: "tiered"`) conflicts and value sizes are counted, once per
 * operation. Telemetry failures never reach the caller. Being a StateStore, it runs the conformance suite.
 */
export function instrumented<S extends StateStore>(store: S, options: InstrumentOptions): S {
  const { tier, instruments: m, tracer } = options;
  const tiered = tier === "tiered";
  type Attrs = { attributes: Record<string, string>; key: string };
  // Attribute sets are few (operation × namespace × outcome): each object and its key is built once,
  // and found again without building a string (this runs on every state operation).
  const durationAttrs = new Map<string, Map<string, Map<string, Attrs>>>();
  const cacheAttrs = new Map<string, Map<string, Attrs>>();
  const durationOf = (operation: string, namespace: string, outcome: string): Attrs => {
    let byNs = durationAttrs.get(operation);
    if (!byNs) durationAttrs.set(operation, (byNs = new Map()));
    let byOutcome = byNs.get(namespace);
    if (!byOutcome) byNs.set(namespace, (byOutcome = new Map()));
    let a = byOutcome.get(outcome);
    if (!a) {
      const attributes = { operation, tier, namespace, outcome };
      byOutcome.set(outcome, (a = { attributes, key: attributeKey(attributes) }));
    }
    return a;
  };
  const cacheOf = (namespace: string, result: "hit" | "miss"): Attrs => {
    let byResult = cacheAttrs.get(namespace);
    if (!byResult) cacheAttrs.set(namespace, (byResult = new Map()));
    let a = byResult.get(result);
    if (!a) {
      const attributes = { tier, namespace, result };
      byResult.set(result, (a = { attributes, key: attributeKey(attributes) }));
    }
    return a;
  };
  const wrapper = Object.create(store) as S;
  const methods = wrapper as unknown as Record<string, unknown>;

  for (const [method, operation] of Object.entries(OPERATIONS) as [keyof typeof OPERATIONS, string][]) {
    const original = (store as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[method];
    if (typeof original !== "function") continue;
    const isGet = method === "get";
    const recordsSize = tiered && (method === "put" || method === "transact");

    const succeeded = (result: unknown, args: unknown[], namespace: string, started: number, span?: Span) => {
      try {
        const outcome = isGet && result === undefined ? "miss" : "ok";
        const d = durationOf(operation, namespace, outcome);
        m.operationDuration.record((performance.now() - started) / 1000, d.attributes, d.key);
        if (isGet && !tiered) {
          const c = cacheOf(namespace, result === undefined ? "miss" : "hit");
          m.cacheRequests.add(1, c.attributes, c.key);
        }
        if (recordsSize) recordSizes(m, method, args, result, options);
        if (span && isGet) span.setAttribute("statehouse.hit", result !== undefined);
      } catch {
        // Telemetry must never fail a state operation.
      }
      span?.end();
      return result;
    };
    const failed = (err: unknown, namespace: string, started: number, span?: Span): never => {
      try {
        const outcome = outcomeOf(err);
        const d = durationOf(operation, namespace, outcome);
        m.operationDuration.record((performance.now() - started) / 1000, d.attributes, d.key);
        if (tiered && outcome === "conflict") m.conflicts.add(1, { namespace, operation });
        if (span) {
          span.setAttribute("statehouse.outcome", outcome);
          if (outcome === "error")
            span.setStatus({ code: SpanStatusCode.ERROR, message: isStateError(err) ? err.code : "error" });
        }
      } catch {
        // as above
      }
      span?.end();
      throw err;
    };

    methods[method] = (a?: unknown, b?: unknown, c?: unknown, d?: unknown) => {
      const args = [a, b, c, d];
      const namespace = options.namespaceLabel(namespaceOf(method, args));
      if (!tracer) {
        const started = performance.now();
        return original.call(store, a, b, c, d).then(
          (result) => succeeded(result, args, namespace, started),
          (err: unknown) => failed(err, namespace, started),
        );
      }
      return tracer.startActiveSpan(
        tiered ? `statehouse.state.${operation}` : `statehouse.${tier}.${operation}`,
        {
          attributes: { "statehouse.operation": operation, "statehouse.tier": tier, "statehouse.namespace": namespace },
        },
        (span) => {
          const started = performance.now();
          return original.call(store, a, b, c, d).then(
            (result) => succeeded(result, args, namespace, started, span),
            (err: unknown) => failed(err, namespace, started, span),
          );
        },
      );
    };
  }
  return wrapper;
}

function namespaceOf(method: string, args: unknown[]): string {
  switch (method) {
    case "list":
      return String(args[1]);
    case "setIfNewer":
    case "importRecord":
      return String((args[1] as StateRecord | undefined)?.namespace);
    case "transact": {
      const ops = args[0] as TransactionOp[] | undefined;
      const namespaces = new Set(ops?.map((o) => o.ref.namespace));
      return namespaces.size === 1 ? [...namespaces][0]! : "multiple";
    }
    default:
      return String((args[0] as { namespace?: string } | undefined)?.namespace);
  }
}

function recordSizes(
  m: Instruments,
  method: string,
  args: unknown[],
  result: unknown,
  options: InstrumentOptions,
): void {
  if (method === "put") {
    const r = result as StateRecord;
    m.size.record(r.sizeBytes, { namespace: options.namespaceLabel(r.namespace) });
    return;
  }
  for (const r of result as { op: string; record?: StateRecord }[]) {
    if (r.record) m.size.record(r.record.sizeBytes, { namespace: options.namespaceLabel(r.record.namespace) });
  }
  void args;
}

function outcomeOf(err: unknown): Outcome {
  if (!isStateError(err)) return "error";
  switch (err.code) {
    case "version_conflict":
      return "conflict";
    case "not_found":
      return "not_found";
    case "unsupported":
      return "unsupported";
    case "unavailable":
      return "error";
    default:
      return "invalid";
  }
}

/**
 * How the state engine reports itself: stores wrapped with `instrumented`, lifecycle events counted,
 * namespaces labelled. Undeclared names (bad input) collapse to one label value, so they cannot blow up
 * cardinality. Spans per state operation only when traces are exported: unexported, they would cost a
 * tenth of hot-read throughput for nothing (requests still get a span, whose trace id logs and errors show).
 */
export function stateTelemetry(
  telemetry: { instruments: Instruments; tracer: Tracer; tracesExported: boolean },
  namespaces: { has(name: string): boolean },
) {
  const namespaceLabel = (ns: string) => (namespaces.has(ns) ? ns : "other");
  const tracer = telemetry.tracesExported ? telemetry.tracer : undefined;
  return {
    namespaceLabel,
    /** Counts a lifecycle event of a namespace, or of "all" (the sweeper's deployment-wide clean-ups). */
    lifecycle: (event: string, namespace: string, count = 1) =>
      telemetry.instruments.lifecycleEvents.add(count, {
        event,
        namespace: namespace === "all" ? "all" : namespaceLabel(namespace),
      }),
    measure: <S extends StateStore>(store: S, tier: TierName | "tiered") =>
      instrumented(store, { tier, instruments: telemetry.instruments, tracer, namespaceLabel }),
  };
}
