"use client";

import { useEffect, useState } from "react";
import type { Schemas } from "../../../server/client";
import { formatBytes, must, sh } from "./api";
import { DataTable } from "./parts";
import { Chart, pivot } from "./overview";
import { useViewer } from "./viewer";

const seconds = (s?: number) =>
  s === undefined ? "–" : s >= 3600 ? `${s / 3600} h` : s >= 60 ? `${s / 60} min` : `${s} s`;

/** Every namespace's policy; for a platform admin also each one's growth (the metrics cover every tenant). */
export function Namespaces() {
  const { platformAdmin } = useViewer();
  const [policies, setPolicies] = useState<Schemas["NamespaceInfo"][]>();
  const [metrics, setMetrics] = useState<Schemas["AdminMetrics"]>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    Promise.all([
      must(sh.GET("/api/v1/namespaces")),
      platformAdmin ? must(sh.GET("/api/v1/admin/metrics", { params: { query: { window: "1h" } } })) : undefined,
    ])
      .then(([p, m]) => {
        setPolicies(p.namespaces);
        setMetrics(m);
      })
      .catch((e: Error) => setError(e.message));
  }, [platformAdmin]);
  if (error)
    return (
      <p role="alert" className="bad">
        {error}
      </p>
    );
  if (!policies || (platformAdmin && !metrics))
    return (
      <p className="muted" role="status">
        Loading namespaces…
      </p>
    );
  return (
    <>
      <h1>Namespaces</h1>
      <section className="card">
        <DataTable
          testId="namespaces"
          columns={[
            "Namespace",
            "Kind",
            "Durability",
            "Idle TTL",
            "TTL",
            "Window",
            "Size warn / fail",
            "Quota",
            "Schema",
            "Writes",
          ]}
          rows={policies}
          row={(p) => (
            <tr key={p.name}>
              <th scope="row">{p.name}</th>
              <td>{p.kind}</td>
              <td>{p.durability}</td>
              <td>{seconds(p.idleTtlSeconds)}</td>
              <td>{seconds(p.ttlSeconds)}</td>
              <td>
                {p.windows
                  .map((w) => `${w.field}: last ${w.maxItems}${w.maxBytes ? `, ${formatBytes(w.maxBytes)}` : ""}`)
                  .join("; ") || "–"}
              </td>
              <td>
                {formatBytes(p.maxBytes.warn)} / {formatBytes(p.maxBytes.fail)}
              </td>
              <td>{formatBytes(p.storageQuotaBytes)}</td>
              <td>v{p.schemaVersion}</td>
              <td>
                {p.requirePrecondition ? "If-Match required" : "any"}
                {p.whenWarmDown === "buffer" ? ", buffered when warm is down" : ""}
              </td>
            </tr>
          )}
        />
      </section>
      {metrics && (
        <div className="grid">
          {policies
            .filter((p) => p.durability === "durable")
            .map((p) => {
              const series = metrics.storage.filter((s) => s.namespace === p.name);
              const chart = pivot(
                series.flatMap((s) => s.points.map((pt) => ({ t: pt.t, k: `${s.tier} bytes`, v: pt.bytes }))),
                (r) => r.k,
                (r) => r.v,
              );
              const events = metrics.lifecycle.filter((l) => l.namespace === p.name);
              return (
                <div key={p.name}>
                  <Chart
                    testId={`ns-${p.name}`}
                    title={`${p.name}: stored bytes (last hour)`}
                    unit="bytes"
                    series={chart}
                    format={formatBytes}
                  />
                  <p className="muted">
                    Lifecycle events:{" "}
                    {events.length ? events.map((e) => `${e.event} × ${e.count}`).join(", ") : "none in the last hour"}
                  </p>
                </div>
              );
            })}
        </div>
      )}
    </>
  );
}
