import path from "node:path";
import type { Config } from "./config";
import { FilesystemArchive } from "./state/archive";
import type { CircuitState } from "./state/circuit-breaker";
import { guarded, type GuardedStore } from "./state/guarded";
import { MemoryStore } from "./state/memory";
import { NamespaceRegistry } from "./state/namespaces";
import { PostgresStore } from "./state/postgres";
import { RedisStore } from "./state/redis";
import type { StateStore } from "./state/store";
import { TieredStore } from "./state/tiered";
import { logger } from "./logger";

export type TierRole = "hot" | "warm" | "cold";

export interface StoreStatus {
  tier: TierRole;
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

/** Everything the process runs on, built once (design: one composition file, no scattered singletons). */
export interface Services {
  readonly config: Config;
  readonly namespaces: NamespaceRegistry;
  readonly state: TieredStore;
  readonly tiers: Readonly<Record<TierRole, GuardedStore>>;
  readiness(): Promise<ReadyReport>;
  close(): Promise<void>;
}

export async function buildServices(config: Config): Promise<Services> {
  const breakerOptions = (store: string) => ({
    failureThreshold: config.STATEHOUSE_BREAKER_FAILURES,
    openMs: config.STATEHOUSE_BREAKER_OPEN_MS,
    onStateChange: (state: CircuitState, previous: CircuitState) =>
      logger[state === "open" ? "warn" : "info"]("circuit breaker changed", { store, from: previous, to: state }),
  });
  const guard = (store: StateStore) => guarded(store, { timeoutMs: config.STATEHOUSE_STORE_TIMEOUT_MS, breaker: breakerOptions(store.name) });

  const namespaces = new NamespaceRegistry();
  const warm = await PostgresStore.open(config.DATABASE_URL ? { url: config.DATABASE_URL } : { pgliteDir: path.join(config.dataDir, "pglite") });
  const hot: StateStore = config.REDIS_URL ? await RedisStore.fromUrl(config.REDIS_URL, { keyPrefix: config.STATEHOUSE_KEY_PREFIX }) : new MemoryStore();
  const cold = new FilesystemArchive(path.join(config.dataDir, "archive"));

  const tiers = { hot: guard(hot), warm: guard(warm), cold: guard(cold) };
  const state = new TieredStore({
    ...tiers,
    durabilityOf: namespaces.durabilityOf,
    hotTtlMsOf: namespaces.hotTtlMsOf,
    onHotWriteFailed: (ref) => logger.warn("hot copy not updated after a durable write; key kept out of hot until repaired", { namespace: ref.namespace }),
  });

  return {
    config,
    namespaces,
    state,
    tiers,
    async readiness() {
      const stores = await Promise.all(
        (Object.entries(tiers) as [TierRole, GuardedStore][]).map(async ([tier, store]): Promise<StoreStatus> => {
          const started = performance.now();
          try {
            await store.ping();
            return { tier, backend: store.name, status: "up", circuit: store.breaker.state, latencyMs: round(performance.now() - started) };
          } catch {
            return { tier, backend: store.name, status: "down", circuit: store.breaker.state };
          }
        }),
      );
      // The warm tier is the source of truth: without it nothing durable can be acknowledged.
      const warmUp = stores.find((s) => s.tier === "warm")!.status === "up";
      const allUp = stores.every((s) => s.status === "up");
      return { ready: warmUp, status: !warmUp ? "unavailable" : allUp ? "ready" : "degraded", stores };
    },
    async close() {
      await state.close();
    },
  };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
