import { CircuitBreaker, type CircuitBreakerOptions } from "./circuit-breaker";
import { isCallerError, UnavailableError } from "./errors";
import type { StateStore } from "./store";

export interface GuardOptions {
  /** Every call fails with `unavailable` after this long; the underlying call is abandoned. */
  timeoutMs?: number;
  breaker?: CircuitBreaker | CircuitBreakerOptions;
}

export interface GuardedStore extends StateStore {
  readonly breaker: CircuitBreaker;
  readonly inner: StateStore;
}

const GUARDED_METHODS = ["get", "put", "delete", "list", "history", "getVersion", "transact", "setIfNewer", "importRecord", "dropArchived", "touch", "stats", "ping"] as const;

/**
 * Wraps a store so that no call outlives `timeoutMs` and a failing backend trips a circuit breaker:
 * while it is open, calls fail at once with `unavailable` instead of piling up on a dead store.
 * Errors about the request itself (conflicts, invalid input) pass through and count as successes;
 * anything else becomes `unavailable` (never leaking the driver's message, which can hold addresses).
 */
export function guarded(store: StateStore, options: GuardOptions = {}): GuardedStore {
  const timeoutMs = options.timeoutMs ?? 2000;
  const breaker = options.breaker instanceof CircuitBreaker ? options.breaker : new CircuitBreaker(options.breaker);
  const wrapper: Record<string, unknown> = {
    name: store.name,
    capabilities: store.capabilities,
    breaker,
    inner: store,
    close: () => store.close(),
  };
  for (const method of GUARDED_METHODS) {
    const fn = (store as unknown as Record<string, ((...a: unknown[]) => Promise<unknown>) | undefined>)[method];
    if (!fn) continue;
    wrapper[method] = async (...args: unknown[]) => {
      if (!breaker.tryAcquire()) {
        throw new UnavailableError(store.name, `${store.name} is unavailable (circuit open)`, Math.max(1, Math.ceil(breaker.retryAfterMs / 1000)));
      }
      let timer: NodeJS.Timeout | undefined;
      try {
        const result = await Promise.race([
          fn.apply(store, args),
          new Promise<never>((_, reject) => {
            // Timers run before the loop reads its sockets: when the loop was busy (CPU-heavy requests,
            // a long GC), the answer may already be waiting there. setImmediate runs after that read, so
            // only a store that really has not answered is reported as unavailable.
            timer = setTimeout(() => setImmediate(() => reject(new UnavailableError(store.name, `${store.name} did not answer within ${timeoutMs} ms`))), timeoutMs);
          }),
        ]);
        breaker.success();
        return result;
      } catch (err) {
        if (isCallerError(err)) {
          breaker.success();
          throw err;
        }
        breaker.failure();
        if (err instanceof UnavailableError) throw err;
        throw new UnavailableError(store.name, `${store.name} failed: ${describe(err)}`);
      } finally {
        clearTimeout(timer);
      }
    };
  }
  return wrapper as unknown as GuardedStore;
}

/** A short, secret-free reason: the error's class and code, never its message (which may hold a URL). */
function describe(err: unknown): string {
  const e = err as { code?: unknown; name?: unknown };
  return [typeof e?.name === "string" ? e.name : "error", typeof e?.code === "string" ? e.code : undefined].filter(Boolean).join(" ");
}
