"use client";

import { useEffect, useState } from "react";
import type { Schemas } from "../../../server/client";
import { must, sh } from "./api";
import { PlatformOnly, useViewer } from "./viewer";

export function Alerts() {
  return useViewer().platformAdmin ? <AlertTable /> : <PlatformOnly title="Alerts" />;
}

function AlertTable() {
  const [data, setData] = useState<Schemas["Alerts"]>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    const load = () => must(sh.GET("/api/v1/admin/alerts")).then(setData, (e: Error) => setError(e.message));
    void load();
    const timer = setInterval(load, 15_000);
    return () => clearInterval(timer);
  }, []);
  if (error)
    return (
      <p role="alert" className="bad">
        {error}
      </p>
    );
  if (!data)
    return (
      <p className="muted" role="status">
        Evaluating alert rules…
      </p>
    );
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
        <table data-testid="alerts">
          <thead>
            <tr>
              <th scope="col">Alert</th>
              <th scope="col">Severity</th>
              <th scope="col">State</th>
              <th scope="col">Value</th>
              <th scope="col">Threshold</th>
              <th scope="col">Summary</th>
            </tr>
          </thead>
          <tbody>
            {data.alerts.map((a) => (
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
            ))}
          </tbody>
        </table>
      </section>
    </>
  );
}
