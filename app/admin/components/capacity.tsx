"use client";

import { must, sh } from "./api";
import { Pending, usePolled } from "./parts";
import { Chart } from "./overview";

/** Active sessions per agent, their recent samples and the one-hour forecast (GET /api/v1/admin/capacity). */
export function CapacityCard() {
  const { data, error } = usePolled(() => must(sh.GET("/api/v1/admin/capacity")), 10_000);
  if (!data) return <Pending error={error} errorPrefix="Could not load capacity: " loading="Loading capacity…" />;
  // One line of samples per agent, and a dashed-in projection from the last sample to the forecast.
  const rows: ({ t: number } & Record<string, number | null>)[] = [];
  for (const s of data.series) {
    for (const p of s.samples) rows.push({ t: Date.parse(p.at), [`${s.agent} active`]: p.active });
    const last = s.samples.at(-1);
    if (last) {
      rows.push({ t: Date.parse(last.at), [`${s.agent} forecast`]: last.active });
      rows.push({ t: Date.parse(last.at) + data.horizonSeconds * 1000, [`${s.agent} forecast`]: s.forecast });
    }
  }
  rows.sort((a, b) => a.t - b.t);
  const keys = data.series.flatMap((s) => [`${s.agent} active`, `${s.agent} forecast`]);
  return (
    <section className="card" aria-label="Capacity">
      <h2>Capacity: active sessions</h2>
      <div className="stats">
        {data.series.map((s) => (
          <div key={s.agent} className="stat">
            <div className="label">
              {s.agent} ({s.namespace})
            </div>
            <div className="value" data-testid={`sessions-active-${s.agent}`}>
              {s.active}
            </div>
            <div className="muted">
              in 1 h: <span data-testid={`sessions-forecast-${s.agent}`}>{s.forecast}</span> (
              {s.perHour >= 0 ? "+" : ""}
              {s.perHour}/h, from {spanOf(s.samples)} of samples)
            </div>
          </div>
        ))}
      </div>
      <Chart
        testId="chart-sessions"
        title={
          `Active sessions and the ${Math.round(data.horizonSeconds / 60)}-minute forecast (trend of the last ` +
          `${Math.round(data.windowSeconds / 60)} minutes)`
        }
        unit="sessions"
        series={{ data: rows, keys }}
      />
    </section>
  );
}

/** How much time the samples cover: a trend from a few seconds of samples says little about the next hour. */
function spanOf(samples: { at: string }[]): string {
  const ms = samples.length > 1 ? Date.parse(samples.at(-1)!.at) - Date.parse(samples[0]!.at) : 0;
  return ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`;
}
