"use client";

import { useCallback, useEffect, useState } from "react";
import { CartesianGrid, Legend, Line, LineChart, Tooltip, XAxis, YAxis } from "recharts";
import type { ReadyReportBody as Ready, Schemas } from "../../../server/client";
import type { MetricWindow } from "../../../server/shared/types";
import { formatBytes, formatMs, formatTime, must, sh } from "./api";
import { DataTable, Pending, Stat } from "./parts";
import { CapacityCard } from "./capacity";
import { useViewer } from "./viewer";

type Metrics = Schemas["AdminMetrics"];

const COLORS = ["#1f4e8c", "#b3261e", "#0f7b3f", "#8a4f00", "#6b3fa0", "#00696f", "#5c5c5c"];

/** Rows {t, a: …, b: …} from series of {t, key, value}: one column per key, for one chart line each. */
export function pivot<T extends { t: number }>(rows: T[], keyOf: (r: T) => string, valueFor: (r: T) => number | null) {
  const byT = new Map<number, Record<string, number | null> & { t: number }>();
  const keys = new Set<string>();
  for (const r of rows) {
    const k = keyOf(r);
    keys.add(k);
    const row = byT.get(r.t) ?? { t: r.t };
    row[k] = valueFor(r);
    byT.set(r.t, row);
  }
  return { data: [...byT.values()].sort((a, b) => a.t - b.t), keys: [...keys].sort() };
}

/** Points over time, one line per key. */
export interface Series {
  data: ({ t: number } & Record<string, number | null>)[];
  keys: string[];
}

export function Chart(props: {
  title: string;
  unit: string;
  series: Series;
  format?: (v: number) => string;
  /** How the time axis reads (default: hours, minutes and seconds). */
  time?: (t: number) => string;
  testId: string;
}) {
  const { title, unit, format, testId } = props;
  const time = props.time ?? formatTime;
  const { data, keys } = props.series;
  return (
    <section className="card" data-testid={testId} aria-label={title}>
      <h2>{title}</h2>
      {data.length === 0 ? (
        <p className="muted">No data in this window yet.</p>
      ) : (
        <LineChart width={560} height={240} data={data} margin={{ top: 8, right: 16, bottom: 24, left: 16 }}>
          <CartesianGrid stroke="#e3e6eb" />
          <XAxis
            dataKey="t"
            type="number"
            domain={["dataMin", "dataMax"]}
            tickFormatter={time}
            label={{ value: "time", position: "insideBottom", offset: -12 }}
          />
          <YAxis tickFormatter={format} label={{ value: unit, angle: -90, position: "insideLeft" }} width={72} />
          <Tooltip
            labelFormatter={(t) => time(Number(t))}
            formatter={(v) => (format ? format(Number(v)) : String(v))}
          />
          <Legend verticalAlign="top" height={24} />
          {keys.map((k, i) => (
            <Line
              key={k}
              type="monotone"
              dataKey={k}
              name={k}
              stroke={COLORS[i % COLORS.length]}
              dot={{ r: 2 }}
              isAnimationActive={false}
              connectNulls
            />
          ))}
        </LineChart>
      )}
    </section>
  );
}

/** A platform admin sees the deployment's metrics; a tenant admin its tenant's usage (the metrics mix every tenant). */
export function Overview() {
  return useViewer().platformAdmin ? <PlatformOverview /> : <TenantOverview />;
}

function TenantOverview() {
  const [usage, setUsage] = useState<Schemas["QuotaUsage"]>();
  const [ready, setReady] = useState<Ready>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    const load = () =>
      Promise.all([
        must(sh.GET("/api/v1/quota")),
        fetch("/api/ready", { cache: "no-store" }).then((x) => x.json() as Promise<Ready>),
      ])
        .then(([u, r]) => {
          setUsage(u);
          setReady(r);
          setError(undefined);
        })
        .catch((e: Error) => setError(e.message));
    void load();
    const timer = setInterval(load, 10_000);
    return () => clearInterval(timer);
  }, []);
  return (
    <>
      <h1>Overview of {usage?.tenant ?? "your tenant"}</h1>
      <Pending error={error} errorPrefix="Could not load usage: " loading={usage ? undefined : "Loading usage…"} />
      {usage && (
        <div className="stats" data-testid="tenant-usage">
          <Stat label="Operations today (UTC)" testId="tenant-ops">
            {usage.operations.used}
            {usage.operations.limit === null ? "" : ` / ${usage.operations.limit}`}
          </Stat>
          <Stat label="Stored" testId="tenant-bytes">
            {formatBytes(usage.bytesStored.used)}
            {usage.bytesStored.limit === null ? "" : ` / ${formatBytes(usage.bytesStored.limit)}`}
          </Stat>
          <Stat label="Region">
            {usage.region ?? "any"} (this server: {usage.serverRegion})
          </Stat>
        </div>
      )}
      <Stores ready={ready} />
    </>
  );
}

function Stores({ ready }: { ready: Ready | undefined }) {
  return (
    <section className="card">
      <h2>Stores</h2>
      {!ready ? (
        <p className="muted">Checking stores…</p>
      ) : (
        <DataTable
          testId="stores"
          columns={["Tier", "Backend", "Status", "Circuit", "Probe"]}
          rows={ready.stores}
          row={(s) => (
            <tr key={s.tier}>
              <td>{s.tier}</td>
              <td>{s.backend}</td>
              <td className={s.status === "up" ? "ok" : "bad"}>{s.status}</td>
              <td className={s.circuit === "closed" ? "ok" : s.circuit === "open" ? "bad" : "warn"}>{s.circuit}</td>
              <td>{s.latencyMs === undefined ? "–" : `${s.latencyMs} ms`}</td>
            </tr>
          )}
        />
      )}
    </section>
  );
}

function PlatformOverview() {
  const [window, setWindow] = useState<MetricWindow>("15m");
  const [percentile, setPercentile] = useState<"p50" | "p95" | "p99">("p99");
  const [metrics, setMetrics] = useState<Metrics>();
  const [ready, setReady] = useState<Ready>();
  const [error, setError] = useState<string>();

  const load = useCallback(async () => {
    try {
      const [m, r] = await Promise.all([
        must(sh.GET("/api/v1/admin/metrics", { params: { query: { window } } })),
        fetch("/api/ready", { cache: "no-store" }).then((x) => x.json() as Promise<Ready>),
      ]);
      setMetrics(m);
      setReady(r);
      setError(undefined);
    } catch (e) {
      setError((e as Error).message);
    }
  }, [window]);

  useEffect(() => {
    void load();
    const timer = setInterval(() => void load(), 10_000);
    return () => clearInterval(timer);
  }, [load]);

  const latency = metrics
    ? pivot(
        metrics.latencyOverTime,
        (r) => `${r.tier} ${percentile}`,
        (r) => (r[percentile] === null ? null : r[percentile]! * 1000),
      )
    : undefined;
  const hits = metrics
    ? pivot(
        metrics.hitRatioOverTime,
        (r) => r.tier,
        (r) => (r.ratio === null ? null : r.ratio * 100),
      )
    : undefined;
  const ops = metrics
    ? pivot(
        metrics.operationsOverTime.map((r) => ({ ...r, k: "operations/s" })),
        (r) => r.k,
        (r) => r.perSecond,
      )
    : undefined;
  const errors = metrics
    ? pivot(
        metrics.operationsOverTime,
        () => "error rate %",
        (r) => (r.errorRate === null ? null : r.errorRate * 100),
      )
    : undefined;
  const conflicts = metrics
    ? pivot(
        metrics.conflictsOverTime,
        () => "conflicts/min",
        (r) => r.perMinute,
      )
    : undefined;
  const warm = metrics?.storage.filter((s) => s.tier === "warm") ?? [];
  const stored = pivot(
    warm.flatMap((s) => s.points.map((p) => ({ t: p.t, ns: s.namespace, v: p.bytes }))),
    (r) => r.ns,
    (r) => r.v,
  );
  const keys = pivot(
    warm.flatMap((s) => s.points.map((p) => ({ t: p.t, ns: s.namespace, v: p.keys }))),
    (r) => r.ns,
    (r) => r.v,
  );

  return (
    <>
      <div className="row" style={{ justifyContent: "space-between", marginBottom: "1rem" }}>
        <h1>Overview</h1>
        <label>
          Window
          <select value={window} onChange={(e) => setWindow(e.target.value as MetricWindow)} aria-label="Time window">
            <option value="15m">Last 15 minutes</option>
            <option value="1h">Last hour</option>
            <option value="6h">Last 6 hours</option>
          </select>
        </label>
      </div>
      <Pending
        error={error}
        errorPrefix="Could not load metrics: "
        loading={metrics ? undefined : "Loading metrics…"}
      />
      {metrics && (
        <>
          <p className="muted" data-testid="window-end">
            {metrics.operations.total === 0
              ? "No state operations recorded in this window yet: the charts fill in as traffic arrives (one point per 10 seconds)."
              : `Window ${metrics.window}, up to ${new Date(metrics.to).toLocaleTimeString()}, refreshed every 10 s.`}
          </p>
          <div className="stats">
            <Stat label="Operations" testId="ops-total" value={metrics.operations.total} />
            <Stat label="Operations per second" testId="ops-per-second" value={metrics.operations.perSecond} />
            <Stat label="Conflicts" testId="conflicts-total" value={metrics.conflicts.total} />
            <Stat label="Conflicts per minute" testId="conflicts-per-minute" value={metrics.conflicts.perMinute} />
            <Stat label="Error rate" testId="error-rate">
              {((metrics.errors.rate ?? 0) * 100).toFixed(2)}%
            </Stat>
            {metrics.hitRatio.map((h) => (
              <Stat key={h.tier} label={<>Hit ratio ({h.tier})</>} testId={`hit-ratio-${h.tier}`}>
                {h.ratio === null ? "–" : `${(h.ratio * 100).toFixed(1)}%`}
              </Stat>
            ))}
          </div>
          <section className="card" style={{ marginTop: "1rem" }}>
            <h2>Latency per tier and operation</h2>
            <DataTable
              testId="latency-table"
              columns={["Tier", "Operation", "Count", "p50", "p95", "p99"]}
              rows={metrics.latency}
              row={(l) => (
                <tr key={`${l.tier}/${l.operation}`} data-testid={`latency-${l.tier}-${l.operation}`}>
                  <td>{l.tier}</td>
                  <td>{l.operation}</td>
                  <td>{l.count}</td>
                  <td>{formatMs(l.p50)}</td>
                  <td>{formatMs(l.p95)}</td>
                  <td data-p99={l.p99 ?? ""}>{formatMs(l.p99)}</td>
                </tr>
              )}
            />
          </section>
          <div className="grid">
            <div>
              <Chart
                testId="chart-latency"
                title={`${percentile} latency per tier`}
                unit="ms"
                series={latency!}
                format={(v) => v.toFixed(2)}
              />
              <div role="group" aria-label="Percentile" className="timeline">
                {(["p50", "p95", "p99"] as const).map((p) => (
                  <button key={p} type="button" aria-pressed={p === percentile} onClick={() => setPercentile(p)}>
                    {p}
                  </button>
                ))}
              </div>
            </div>
            <Chart
              testId="chart-hit-ratio"
              title="Hit ratio per tier"
              unit="%"
              series={hits!}
              format={(v) => v.toFixed(0)}
            />
            <Chart testId="chart-ops" title="Operations per second" unit="ops/s" series={ops!} />
            <Chart testId="chart-errors" title="Error rate" unit="%" series={errors!} />
            <Chart testId="chart-conflicts" title="Conflicts per minute" unit="per min" series={conflicts!} />
            <Chart
              testId="chart-stored"
              title="Stored bytes per namespace (warm)"
              unit="bytes"
              series={stored}
              format={formatBytes}
            />
            <Chart testId="chart-keys" title="Keys per namespace (warm)" unit="keys" series={keys} />
          </div>
          {warm.length > 0 && (
            <section className="card">
              <h2>Growth trend</h2>
              <DataTable
                columns={["Namespace", "Stored now", "Trend per hour"]}
                rows={warm}
                row={(s) => (
                  <tr key={s.namespace}>
                    <td>{s.namespace}</td>
                    <td>{formatBytes(s.points.at(-1)?.bytes)}</td>
                    <td>
                      {s.trendBytesPerHour === null
                        ? "–"
                        : `${s.trendBytesPerHour >= 0 ? "+" : "−"}${formatBytes(Math.abs(s.trendBytesPerHour))}/h`}
                    </td>
                  </tr>
                )}
              />
            </section>
          )}
        </>
      )}
      <CapacityCard />
      <Stores ready={ready} />
    </>
  );
}
