import { type Span, SpanStatusCode, type Tracer } from "@opentelemetry/api";
import { isStateError } from "../state/errors";
import type { StateRecord, StateStore, TransactionOp } from "../state/store";
import { attributeKey } from "./fast-metrics";
import type { Instruments } from "./instruments";

export type TierLabel = "hot" | "warm" | "cold" | "tiered";

export interface InstrumentOptions {
  tier: TierLabel;
  instruments: Instruments;
  tracer?: Tracer;
  /** Maps a namespace to its attribute value; undeclared names collapse to one value (cardinality). */
  namespaceLabel(namespace: string): string;
}

type Outcome = "ok" | "miss" | "conflict" | "invalid" | "not_found" | "unsupported" | "error";

const OPERATIONS = {
  get: "get", put: "put", delete: "delete", list: "list", history: "history", getVersion: "version",
  transact: "transaction", setIfNewer: "promote", importRecord: "restore",
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
  // Attribute sets are few (operation × namespace × outcome): build each object and its key once.
  const attributeCache = new Map<string, { attributes: Record<string, string>; key: string }>();
  const attrs = (base: string, make: () => Record<string, string>) => {
    let a = attributeCache.get(base);
    if (!a) {
      const attributes = make();
      attributeCache.set(base, (a = { attributes, key: attributeKey(attributes) }));
    }
    return a;
  };
  const wrapper = Object.create(store) as S;
  const methods = wrapper as unknown as Record<string, unknown>;

  for (const [method, operation] of Object.entries(OPERATIONS) as [keyof typeof OPERATIONS, string][]) {
    const original = (store as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[method];
    if (typeof original !== "function") continue;
    methods[method] = function (...args: unknown[]) {
      const namespace = options.namespaceLabel(namespaceOf(method, args));
      const run = (span?: Span) => {
        const started = performance.now();
        return original.apply(store, args).then(
          (result) => {
            const outcome: Outcome = method === "get" && result === undefined ? "miss" : "ok";
            safely(() => {
              const d = attrs(`d\u0000${operation}\u0000${namespace}\u0000${outcome}`, () => ({ operation, tier, namespace, outcome }));
              m.operationDuration.record((performance.now() - started) / 1000, d.attributes, d.key);
              if (method === "get" && !tiered) {
                const result_ = result === undefined ? "miss" : "hit";
                const c = attrs(`c\u0000${namespace}\u0000${result_}`, () => ({ tier, namespace, result: result_ }));
                m.cacheRequests.add(1, c.attributes, c.key);
              }
              if (tiered && (method === "put" || method === "transact")) recordSizes(m, method, args, result, options);
              if (span && method === "get") span.setAttribute("statehouse.hit", result !== undefined);
            });
            span?.end();
            return result;
          },
          (err: unknown) => {
            const outcome = outcomeOf(err);
            safely(() => {
              m.operationDuration.record((performance.now() - started) / 1000, { operation, tier, namespace, outcome });
              if (tiered && outcome === "conflict") m.conflicts.add(1, { namespace, operation });
              if (span) {
                span.setAttribute("statehouse.outcome", outcome);
                if (outcome === "error") span.setStatus({ code: SpanStatusCode.ERROR, message: isStateError(err) ? err.code : "error" });
              }
            });
            span?.end();
            throw err;
          },
        );
      };
      if (!tracer) return run();
      return tracer.startActiveSpan(tiered ? `statehouse.state.${operation}` : `statehouse.${tier}.${operation}`, { attributes: { "statehouse.operation": operation, "statehouse.tier": tier, "statehouse.namespace": namespace } }, run);
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

function recordSizes(m: Instruments, method: string, args: unknown[], result: unknown, options: InstrumentOptions): void {
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

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // Telemetry must never fail a state operation.
  }
}

