"use client";

import { must, sh } from "./api";
import { HeaderRow, Pending, usePolled } from "./parts";

export function OutboxPage() {
  const { data, error } = usePolled(() => must(sh.GET("/api/v1/admin/outbox")), 5000);
  if (!data) return <Pending error={error} loading="Loading the outbox…" />;
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
            <HeaderRow
              columns={["Event", "Tenant", "Namespace", "Key", "Version", "Operation", "Created", "Published"]}
            />
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
