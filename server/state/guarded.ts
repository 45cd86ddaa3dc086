import type { CircuitBreaker, CircuitBreakerOptions } from "./circuit-breaker";
import { StoreHealth } from "./health";
import type { StateStore } from "./store";
import { RECORD_OPERATIONS } from "./store";

export interface GuardOptions {
  /**
   * The backend's shared health (timeout, circuit breaker, per-request memory of timeouts). Pass the
   * one every other user of the same connection goes through; without it the store gets its own,
   * built from `timeoutMs` and `breaker`.
   */
  health?: StoreHealth;
  /** Every call fails with `unavailable` after this long (with `health`: instead of its timeout); the underlying call is abandoned. */
  timeoutMs?: number;
  breaker?: CircuitBreaker | CircuitBreakerOptions;
}

export interface GuardedStore extends StateStore {
  readonly breaker: CircuitBreaker;
  readonly health: StoreHealth;
  readonly inner: StateStore;
}

const GUARDED_METHODS = [
  ...RECORD_OPERATIONS,
  "setIfNewer",
  "importRecord",
  "dropArchived",
  "touch",
  "stats",
  "ping",
] as const;

/**
 * Wraps a store so that every call goes through its backend's health (server/state/health.ts): no call
 * outlives the timeout, and a failing backend trips a circuit breaker: while it is open, calls fail at
 * once with `unavailable` instead of piling up on a dead store. Errors about the request itself
 * (conflicts, invalid input) pass through and count as successes; anything else becomes `unavailable`.
 */
export function guarded(store: StateStore, options: GuardOptions = {}): GuardedStore {
  const health =
    options.health ?? new StoreHealth({ name: store.name, timeoutMs: options.timeoutMs, breaker: options.breaker });
  const timeoutMs = options.timeoutMs ?? health.timeoutMs;
  const wrapper: Record<string, unknown> = {
    name: store.name,
    capabilities: store.capabilities,
    breaker: health.breaker,
    health,
    inner: store,
    close: () => store.close(),
  };
  for (const method of GUARDED_METHODS) {
    const fn = (store as unknown as Record<string, ((...a: unknown[]) => Promise<unknown>) | undefined>)[method];
    if (!fn) continue;
    wrapper[method] = (...args: unknown[]) => health.call(() => fn.apply(store, args), timeoutMs);
  }
  return wrapper as unknown as GuardedStore;
}
