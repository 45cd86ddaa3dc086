// The three tiers composed: each behind its backend's shared health, the buffer journal, the tiered store.
import { logger } from "../logger";
import type { Config } from "../config";
import type { CircuitState } from "./circuit-breaker";
import { guarded, type GuardedStore } from "./guarded";
import { StoreHealth } from "./health";
import { MemoryJournal, RedisJournal } from "./journal";
import { dataExceptionAsInvalid } from "./postgres";
import type { NamespaceRegistry } from "./namespaces";
import type { RedisClient } from "./redis";
import type { StateStore, TierName } from "./store";
import { TieredStore } from "./tiered";

type Call = <T>(fn: () => Promise<T>) => Promise<T>;

export interface TierParts {
  hot: StateStore;
  warm: StateStore;
  cold: StateStore;
  /** The hot tier's Redis client, when hot is Redis: the buffer journal lives there too. */
  redis?: RedisClient;
  keyPrefix: string;
  namespaces: NamespaceRegistry;
  config: Pick<
    Config,
    | "STATEHOUSE_HOT_TIMEOUT_MS"
    | "STATEHOUSE_WARM_TIMEOUT_MS"
    | "STATEHOUSE_COLD_TIMEOUT_MS"
    | "STATEHOUSE_BREAKER_FAILURES"
    | "STATEHOUSE_BREAKER_OPEN_MS"
  >;
  /** Wraps a store with telemetry (server/telemetry/instrumented.ts). */
  measure(store: StateStore, tier: TierName): StateStore;
  /** Counts a lifecycle event (buffered writes dropped, hot copies not repaired). */
  lifecycle(event: string, namespace: string): void;
}

/**
 * One health (timeout + circuit breaker) per backend connection, shared by everything that uses it:
 * when one user of Redis sees it time out, the others fail fast instead of each waiting out a timeout.
 * A hot timeout opens the circuit at once: warm can answer instead. `hotCall`/`warmCall` run direct
 * calls (rate limits, quotas, queries beside the store) through the same health.
 */
export function composeTiers(o: TierParts) {
  const timeoutsMs: Record<TierName, number> = {
    hot: o.config.STATEHOUSE_HOT_TIMEOUT_MS,
    warm: o.config.STATEHOUSE_WARM_TIMEOUT_MS,
    cold: o.config.STATEHOUSE_COLD_TIMEOUT_MS,
  };
  const breaker = (store: string) => ({
    failureThreshold: o.config.STATEHOUSE_BREAKER_FAILURES,
    openMs: o.config.STATEHOUSE_BREAKER_OPEN_MS,
    onStateChange: (to: CircuitState, from: CircuitState) =>
      logger[to === "open" ? "warn" : "info"]("circuit breaker changed", { store, from, to }),
  });
  const health = {
    hot: new StoreHealth({
      name: o.hot.name,
      timeoutMs: timeoutsMs.hot,
      breaker: breaker(o.hot.name),
      openOnTimeout: true,
    }),
    warm: new StoreHealth({
      name: o.warm.name,
      timeoutMs: timeoutsMs.warm,
      breaker: breaker(o.warm.name),
    }),
    cold: new StoreHealth({
      name: o.cold.name,
      timeoutMs: timeoutsMs.cold,
      breaker: breaker(o.cold.name),
    }),
  };
  const hotCall: Call = (fn) => health.hot.call(fn);
  /** Direct warm queries (not StateStore calls) share the warm tier's health: its timeout, breaker, and a clear `unavailable`. */
  // A value PostgreSQL refuses (SQLSTATE class 22: a NUL in a text, a number out of range) is the caller's
  // error (422), never a failure of the store: bad input must not trip the breaker every tenant shares.
  const warmCall: Call = (fn) => health.warm.call(() => fn().catch(dataExceptionAsInvalid));
  // Buffering (warm down) makes hot the version authority and the journal the only durable copy: a
  // command abandoned early there may still apply later, so these wait as long as warm would.
  const bufferTimeoutMs = Math.max(timeoutsMs.hot, timeoutsMs.warm);
  const tiers: Record<TierName, GuardedStore> = {
    hot: guarded(o.hot, { health: health.hot }),
    warm: guarded(o.warm, { health: health.warm }),
    cold: guarded(o.cold, { health: health.cold }),
  };
  const tiered = new TieredStore({
    hot: o.measure(tiers.hot, "hot"),
    warm: o.measure(tiers.warm, "warm"),
    cold: o.measure(tiers.cold, "cold"),
    durabilityOf: o.namespaces.durabilityOf,
    hotTtlMsOf: o.namespaces.hotTtlMsOf,
    whenWarmDownOf: o.namespaces.whenWarmDownOf,
    bufferHot: guarded(o.hot, { health: health.hot, timeoutMs: bufferTimeoutMs }),
    journal: o.redis
      ? new RedisJournal(o.redis, o.keyPrefix, (command) => health.hot.call(command, bufferTimeoutMs))
      : new MemoryJournal(),
    onBufferedDropped: (entry, reason) => {
      o.lifecycle("buffered_dropped", entry.namespace);
      logger.warn("a buffered write could not be applied when the warm tier returned; dropped", {
        namespace: entry.namespace,
        reason,
        version: entry.version,
      });
    },
    onHotWriteFailed: (ref) => {
      o.lifecycle("hot_write_failed", ref.namespace);
      logger.warn("hot copy not updated after a durable write; key kept out of hot until repaired", {
        namespace: ref.namespace,
      });
    },
  });
  /**
   * Hot calls that must not be abandoned early, given as long as a warm write: session revocations and
   * checks (a revocation lost to the short hot timeout would leave a copied cookie working after logout).
   */
  const patientHotCall: Call = (fn) => health.hot.call(fn, bufferTimeoutMs);
  return { health, hotCall, patientHotCall, warmCall, tiers, tiered };
}
