// Readiness: whether each tier answers now, and what the process can promise without the ones that don't.
import type { CircuitState } from "./circuit-breaker";
import type { GuardedStore } from "./guarded";
import type { TierName } from "./store";

export interface StoreStatus {
  tier: TierName;
  backend: string;
  status: "up" | "down";
  circuit: CircuitState;
  latencyMs?: number;
}

export interface ReadyReport {
  ready: boolean;
  status: "ready" | "degraded" | "unavailable";
  stores: StoreStatus[];
}

/**
 * Pings every tier (each within its own timeout). Ready while the warm tier answers: it is the source
 * of truth, so without it nothing durable can be acknowledged; a missing hot or cold tier is degraded.
 */
export async function readiness(tiers: Readonly<Record<TierName, GuardedStore>>): Promise<ReadyReport> {
  const stores = await Promise.all(
    (Object.entries(tiers) as [TierName, GuardedStore][]).map(async ([tier, s]): Promise<StoreStatus> => {
      const started = performance.now();
      try {
        await s.ping();
        const latencyMs = Math.round((performance.now() - started) * 100) / 100;
        return { tier, backend: s.name, status: "up", circuit: s.breaker.state, latencyMs };
      } catch {
        return { tier, backend: s.name, status: "down", circuit: s.breaker.state };
      }
    }),
  );
  const warmUp = stores.find((s) => s.tier === "warm")?.status === "up";
  const allUp = stores.every((s) => s.status === "up");
  return { ready: warmUp, status: !warmUp ? "unavailable" : allUp ? "ready" : "degraded", stores };
}
