import { gauge } from "./instruments";
import type { Meter } from "@opentelemetry/api";

export interface ActiveSessions {
  agent: string;
  namespace: string;
  active: number;
}

export interface CapacitySnapshot {
  horizonSeconds: number;
  windowSeconds: number;
  series: (ActiveSessions & { forecast: number; perHour: number; samples: { at: string; active: number }[] })[];
}

/**
 * Capacity: active sessions per agent and namespace (`statehouse.sessions.active`), and where the
 * recent trend puts them in an hour (`statehouse.sessions.forecast`): a least-squares line through the
 * last `windowMs` of samples, read at now + horizon — what PromQL's predict_linear does, so the metric
 * and the Grafana panel agree. Counts are refreshed with the other gauges (StateGauges' interval); a
 * scrape never waits on a store.
 */
export class CapacityMonitor {
  private readonly samples = new Map<string, { t: number; v: number }[]>();

  constructor(
    meter: Meter,
    private readonly options: {
      count(): Promise<ActiveSessions[]>;
      /**
       * The values the agent attribute takes, each observed (0 when none are active). Sessions of an agent
       * not listed (tenants name their own) count under the last one, "custom".
       */
      agents: readonly string[];
      windowMs?: number;
      horizonSeconds?: number;
      now?(): number;
    },
  ) {
    const active = gauge(
      meter,
      "statehouse.sessions.active",
      "{session}",
      "Active (live) sessions per agent and namespace",
    );
    const forecast = gauge(
      meter,
      "statehouse.sessions.forecast",
      "{session}",
      "Active sessions forecast one hour ahead from the recent trend (least squares)",
    );
    active.addCallback((r) => {
      for (const s of this.current()) r.observe(s.active, { agent: s.agent, namespace: s.namespace });
    });
    forecast.addCallback((r) => {
      for (const s of this.current())
        r.observe(this.forecast(s.agent).value, { agent: s.agent, namespace: s.namespace });
    });
  }

  get horizonSeconds(): number {
    return this.options.horizonSeconds ?? 3600;
  }

  private get windowMs(): number {
    return this.options.windowMs ?? 30 * 60_000;
  }

  /** Takes a sample now (the gauges' refresh loop calls it); keeps the last sample when the store cannot answer. */
  async refresh(): Promise<void> {
    let counts: ActiveSessions[];
    try {
      counts = await this.options.count();
    } catch {
      return;
    }
    const now = this.now();
    const labels = this.options.agents;
    const labelOf = (agent: string) => (labels.includes(agent) ? agent : labels.at(-1));
    for (const agent of labels) {
      const list = this.samples.get(agent) ?? [];
      list.push({ t: now, v: counts.filter((c) => labelOf(c.agent) === agent).reduce((n, c) => n + c.active, 0) });
      while (list.length > 1 && list[0]!.t < now - this.windowMs) list.shift();
      this.samples.set(agent, list);
    }
  }

  /** The fitted line at now + horizon (never below 0), and its slope per hour. */
  forecast(agent: string): { value: number; perHour: number } {
    const list = this.samples.get(agent) ?? [];
    const last = list.at(-1);
    if (!last) return { value: 0, perHour: 0 };
    if (list.length < 2) return { value: last.v, perHour: 0 };
    const n = list.length;
    const meanT = list.reduce((s, p) => s + p.t, 0) / n;
    const meanV = list.reduce((s, p) => s + p.v, 0) / n;
    const sxx = list.reduce((s, p) => s + (p.t - meanT) ** 2, 0);
    const slopePerMs = sxx === 0 ? 0 : list.reduce((s, p) => s + (p.t - meanT) * (p.v - meanV), 0) / sxx;
    const at = this.now() + this.horizonSeconds * 1000;
    return { value: Math.max(0, round2(meanV + slopePerMs * (at - meanT))), perHour: round2(slopePerMs * 3_600_000) };
  }

  snapshot(): CapacitySnapshot {
    return {
      horizonSeconds: this.horizonSeconds,
      windowSeconds: Math.round(this.windowMs / 1000),
      series: this.current().map((s) => {
        const f = this.forecast(s.agent);
        return {
          ...s,
          forecast: f.value,
          perHour: f.perHour,
          samples: (this.samples.get(s.agent) ?? []).map((p) => ({ at: new Date(p.t).toISOString(), active: p.v })),
        };
      }),
    };
  }

  private current(): ActiveSessions[] {
    return this.options.agents.map((agent) => ({
      agent,
      namespace: "sessions",
      active: this.samples.get(agent)?.at(-1)?.v ?? 0,
    }));
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
