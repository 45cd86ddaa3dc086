"use client";

import { useEffect, useState } from "react";
import type { Schemas } from "../../../server/client";
import { must, sh } from "./api";

export function OutboxPage() {
  const [data, setData] = useState<Schemas["Outbox"]>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    const load = () => must(sh.GET("/api/v1/admin/outbox")).then(setData, (e: Error) => setError(e.message));
    void load();
    const timer = setInterval(load, 5000);
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
        Loading the outbox…
      </p>
    );
  return (
    <>
      <h1>Outbox</h1>
      <div className="stats">
        <div className="stat">
          <div className="label">Pending events</div>
          <div className="value" data-testid="outbox-pending">
            {data.pending}
          </div>
        </div>
        <div className="stat">
          <div className="label">Lag (oldest pending)</div>
          <div className="value" data-testid="outbox-lag">
            {data.lagSeconds.toFixed(1)} s
          </div>
        </div>
        <div className="stat">
          <div className="label">Published to</div>
          <div className="value">{data.publishers.join(", ")}</div>
        </div>
      </div>
      <section className="card" style={{ marginTop: "1rem" }}>
        <h2>Newest events</h2>
        {data.events.length === 0 ? (
          <p className="muted">No events yet: every durable change adds one.</p>
        ) : (
          <table data-testid="outbox-events">
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">Tenant</th>
                <th scope="col">Namespace</th>
                <th scope="col">Key</th>
                <th scope="col">Version</th>
                <th scope="col">Operation</th>
                <th scope="col">Created</th>
                <th scope="col">Published</th>
              </tr>
            </thead>
            <tbody>
              {data.events.map((e) => (
                <tr key={e.id}>
                  <td>
                    <code>{e.id}</code>
                  </td>
                  <td>{e.tenant}</td>
                  <td>{e.namespace}</td>
                  <td>{e.key}</td>
                  <td>{e.version}</td>
                  <td>{e.operation}</td>
                  <td>{new Date(e.createdAt).toLocaleTimeString()}</td>
                  <td className={e.publishedAt ? "ok" : "warn"}>
                    {e.publishedAt ? new Date(e.publishedAt).toLocaleTimeString() : "pending"}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}
