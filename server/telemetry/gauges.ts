import { gauge } from "./instruments";
import type { Meter, ObservableResult } from "@opentelemetry/api";
import type { CircuitState } from "../state/circuit-breaker";
import type { NamespaceRegistry } from "../state/namespaces";
import type { GuardedStore } from "../state/guarded";
import type { NamespaceStats, TierName } from "../state/store";

const CIRCUIT_VALUE: Record<CircuitState, number> = { closed: 0, "half-open": 1, open: 2 };

export interface GaugeSources {
  namespaces: NamespaceRegistry;
  /** Each store: its tier, backend, breaker, liveness probe and (when it can count) its contents. */
  stores: {
    tier: string;
    backend: string;
    circuit(): CircuitState;
    ping(): Promise<void>;
    stats?(): Promise<NamespaceStats[]>;
  }[];
  /** Pending outbox events and the age of the oldest, in seconds. */
  outbox?(): Promise<{ pending: number; lagSeconds: number }>;
  /** Other readings refreshed on the same interval (e.g. capacity); their failures are theirs to handle. */
  refreshAlso?: (() => Promise<void>)[];
}

/**
 * The gauges: stored bytes and keys per namespace and tier, store up/down and circuit state, outbox
 * pending and lag, namespace quotas. Expensive readings (counts, pings) are refreshed on an interval
 * and cached, so a scrape never waits on a store.
 */
export class StateGauges {
  private stats = new Map<string, NamespaceStats[]>();
  private up = new Map<string, number>();
  private outbox = { pending: 0, lagSeconds: 0 };
  private timer: NodeJS.Timeout | undefined;

  constructor(
    meter: Meter,
    private readonly sources: GaugeSources,
  ) {
    const stored = gauge(meter, "statehouse.state.stored", "By", "Bytes of live values per namespace and tier");
    const keys = gauge(meter, "statehouse.state.keys", "{key}", "Live keys per namespace and tier");
    const circuit = gauge(
      meter,
      "statehouse.store.circuit.state",
      undefined,
      "Circuit breaker per store: 0 closed, 1 half-open, 2 open",
    );
    const upGauge = gauge(meter, "statehouse.store.up", undefined, "1 when the store answered its last probe");
    const pending = gauge(meter, "statehouse.outbox.pending", "{event}", "Outbox events not yet published");
    const lag = gauge(meter, "statehouse.outbox.lag", "s", "Age of the oldest unpublished outbox event");
    const quota = gauge(
      meter,
      "statehouse.namespace.quota",
      "By",
      "Storage quota per namespace (alerts project growth against it)",
    );

    stored.addCallback((r) => this.observeStats(r, "bytes"));
    keys.addCallback((r) => this.observeStats(r, "keys"));
    circuit.addCallback((r) => {
      for (const s of sources.stores) r.observe(CIRCUIT_VALUE[s.circuit()], { store: s.backend, tier: s.tier });
    });
    upGauge.addCallback((r) => {
      for (const s of sources.stores) r.observe(this.up.get(s.tier) ?? 1, { store: s.backend, tier: s.tier });
    });
    pending.addCallback((r) => r.observe(this.outbox.pending));
    lag.addCallback((r) => r.observe(this.outbox.lagSeconds));
    quota.addCallback((r) => {
      for (const p of sources.namespaces.list())
        if (p.storageQuotaBytes && !p.internal) r.observe(p.storageQuotaBytes, { namespace: p.name });
    });
  }

  /** Refreshes now and then every `intervalMs`. */
  start(intervalMs = 15_000): this {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), intervalMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    await Promise.all(
      this.sources.stores.map(async (s) => {
        try {
          await s.ping();
          this.up.set(s.tier, 1);
          if (s.stats) this.stats.set(s.tier, await s.stats());
        } catch {
          this.up.set(s.tier, 0);
        }
      }),
    );
    if (this.sources.outbox) this.outbox = await this.sources.outbox().catch(() => this.outbox);
    await Promise.all((this.sources.refreshAlso ?? []).map((refresh) => refresh().catch(() => {})));
  }

  private observeStats(r: ObservableResult, field: "bytes" | "keys"): void {
    const declared = new Set(this.sources.namespaces.list().map((p) => p.name));
    for (const [tier, list] of this.stats) {
      for (const s of list) if (declared.has(s.namespace)) r.observe(s[field], { namespace: s.namespace, tier });
    }
  }
}

/** What the gauges read of each tier: its backend, circuit, a ping and (where the store has them) its stats. */
export function tierProbes(tiers: Readonly<Record<TierName, GuardedStore>>) {
  return (Object.entries(tiers) as [TierName, GuardedStore][]).map(([tier, s]) => ({
    tier,
    backend: s.name,
    circuit: () => s.breaker.state,
    ping: () => s.ping(),
    stats: s.inner.stats ? () => s.stats!() : undefined,
  }));
}
