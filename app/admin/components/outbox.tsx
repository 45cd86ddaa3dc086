"use client";

import { must, sh } from "./api";
import { DataTable, Pending, Stat, usePolled } from "./parts";

export function OutboxPage() {
  const { data, error } = usePolled(() => must(sh.GET("/api/v1/admin/outbox")), 5000);
  if (!data) return <Pending error={error} loading="Loading the outbox…" />;
  return (
    <>
      <h1>Outbox</h1>
      <div className="stats">
        <Stat label="Pending events" testId="outbox-pending" value={data.pending} />
        <Stat label="Lag (oldest pending)" testId="outbox-lag">
          {data.lagSeconds.toFixed(1)} s
        </Stat>
        <Stat label="Published to" value={data.publishers.join(", ")} />
      </div>
      <section className="card" style={{ marginTop: "1rem" }}>
        <h2>Newest events</h2>
        {data.events.length === 0 ? (
          <p className="muted">No events yet: every durable change adds one.</p>
        ) : (
          <DataTable
            testId="outbox-events"
            columns={["Event", "Tenant", "Namespace", "Key", "Version", "Operation", "Created", "Published"]}
            rows={data.events}
            row={(e) => (
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
            )}
          />
        )}
      </section>
    </>
  );
}
