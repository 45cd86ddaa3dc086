"use client";

import { must, sh } from "./api";
import { DataTable, Pending, usePolled } from "./parts";
import { PlatformOnly, useViewer } from "./viewer";

export function Alerts() {
  return useViewer().platformAdmin ? <AlertTable /> : <PlatformOnly title="Alerts" />;
}

function AlertTable() {
  const { data, error } = usePolled(() => must(sh.GET("/api/v1/admin/alerts")), 15_000);
  if (!data) return <Pending error={error} loading="Evaluating alert rules…" />;
  const firing = data.alerts.filter((a) => a.state === "firing").length;
  return (
    <>
      <h1>Alerts</h1>
      <p className="muted">
        {data.source === "prometheus"
          ? "Active alerts from Prometheus."
          : "The conditions of grafana/prometheus/statehouse-rules.yml, evaluated now against this process's metrics " +
            "(the rules' `for` durations apply in Prometheus)."}{" "}
        <strong className={firing ? "bad" : "ok"}>{firing ? `${firing} firing` : "Nothing firing"}</strong>
      </p>
      <section className="card">
        <DataTable
          testId="alerts"
          columns={["Alert", "Severity", "State", "Value", "Threshold", "Summary"]}
          rows={data.alerts}
          row={(a) => (
            <tr key={a.alert}>
              <th scope="row">{a.alert}</th>
              <td>{a.severity}</td>
              <td className={a.state === "firing" ? "bad" : a.state === "inactive" ? "ok" : "muted"}>
                {a.state === "no_data" ? "no data" : a.state}
              </td>
              <td>{a.value === null ? "–" : Number(a.value.toPrecision(4))}</td>
              <td>{a.threshold ?? "–"}</td>
              <td>{a.summary}</td>
            </tr>
          )}
        />
      </section>
    </>
  );
}
