"use client";

import { type FormEvent, useCallback, useEffect, useState } from "react";
import type { Schemas } from "../../../server/client";
import { formatBytes, must, ok, sh } from "./api";
import { DataTable, Pending } from "./parts";
import { useViewer } from "./viewer";

const share = (used: number, limit: number | null) =>
  limit === null ? "no limit" : `${limit === 0 ? 100 : Math.round((used / limit) * 100)}%`;

/** Quotas per tenant (usage against limits), region pins, where tenants' state is written, refused writes. */
export function QuotasPage() {
  // A tenant admin sees its own tenant's row and audit; only a platform admin sets limits and pins.
  const { platformAdmin } = useViewer();
  const [quotas, setQuotas] = useState<Schemas["QuotaList"]>();
  const [residency, setResidency] = useState<Schemas["Residency"]>();
  const [error, setError] = useState<string>();
  const [saved, setSaved] = useState<string>();

  const load = useCallback(async () => {
    try {
      const [q, r] = await Promise.all([
        must(sh.GET("/api/v1/admin/quotas")),
        must(sh.GET("/api/v1/admin/residency", { params: { query: { limit: 20 } } })),
      ]);
      setQuotas(q);
      setResidency(r);
      setError(undefined);
    } catch (e) {
      setError((e as Error).message);
    }
  }, []);
  useEffect(() => {
    void load();
    const timer = setInterval(() => void load(), 10_000);
    return () => clearInterval(timer);
  }, [load]);

  async function save(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const num = (name: string) => (String(f.get(name) ?? "").trim() === "" ? null : Number(f.get(name)));
    const tenant = String(f.get("tenant") ?? "").trim();
    try {
      await ok(
        sh.PUT("/api/v1/admin/tenants/{tenant}/policy", {
          params: { path: { tenant } },
          body: {
            operationsPerDay: num("operationsPerDay"),
            bytesStored: num("bytesStored"),
            region: String(f.get("region") ?? "").trim() || null,
          },
        }),
      );
      setSaved(`Saved the policy of ${tenant}.`);
      await load();
    } catch (err) {
      setSaved(undefined);
      setError((err as Error).message);
    }
  }

  return (
    <>
      <h1>Quotas and residency</h1>
      <Pending error={error} loading={quotas ? undefined : "Loading quotas…"} />
      {quotas && (
        <section className="card">
          <h2>Usage today (UTC) against quotas</h2>
          <p className="muted">
            This server's region: <strong data-testid="server-region">{quotas.serverRegion}</strong>. Operations are
            state writes and agent calls (a batch counts each document); bytes are live values in durable namespaces.
          </p>
          <DataTable
            testId="quota-table"
            columns={[
              "Tenant",
              "Operations today",
              "Daily limit",
              "Share used",
              "Stored",
              "Storage limit",
              "Share used",
              "Pinned to",
            ]}
            rows={quotas.tenants}
            row={(t) => (
              <tr key={t.tenant} data-testid={`quota-${t.tenant}`}>
                <td>{t.tenant}</td>
                <td data-testid={`ops-used-${t.tenant}`}>{t.operations.used}</td>
                <td>{t.operations.limit ?? "–"}</td>
                <td>{share(t.operations.used, t.operations.limit)}</td>
                <td data-testid={`bytes-used-${t.tenant}`}>{formatBytes(t.bytesStored.used)}</td>
                <td>{t.bytesStored.limit === null ? "–" : formatBytes(t.bytesStored.limit)}</td>
                <td>{share(t.bytesStored.used, t.bytesStored.limit)}</td>
                <td className={t.region && t.region !== quotas.serverRegion ? "warn" : undefined}>
                  {t.region ?? "any"}
                </td>
              </tr>
            )}
          />
        </section>
      )}
      {platformAdmin && (
        <section className="card">
          <h2>Set a tenant's policy</h2>
          <form onSubmit={save} className="row" aria-label="Tenant policy">
            <label>
              Tenant <input name="tenant" required pattern="[a-z0-9][a-z0-9_\-]{0,63}" />
            </label>
            <label>
              Operations per day <input name="operationsPerDay" type="number" min={0} placeholder="no limit" />
            </label>
            <label>
              Bytes stored <input name="bytesStored" type="number" min={0} placeholder="no limit" />
            </label>
            <label>
              Region <input name="region" placeholder="any" />
            </label>
            <button type="submit">Save</button>
          </form>
          {saved && (
            <p role="status" className="ok">
              {saved}
            </p>
          )}
        </section>
      )}
      {residency && (
        <section className="card">
          <h2>Where tenants' state is written</h2>
          <DataTable
            testId="stored-in"
            columns={["Tenant", "Region", "First write", "Last write"]}
            rows={residency.storedIn}
            row={(s) => (
              <tr key={`${s.tenant}/${s.region}`}>
                <td>{s.tenant}</td>
                <td>{s.region}</td>
                <td>{new Date(s.firstWriteAt).toLocaleString()}</td>
                <td>{new Date(s.lastWriteAt).toLocaleString()}</td>
              </tr>
            )}
          />
          <h2>Refused writes (tenant pinned elsewhere)</h2>
          {residency.audit.length === 0 ? (
            <p className="muted">None.</p>
          ) : (
            <DataTable
              testId="residency-audit"
              columns={["When", "Tenant", "Pinned to", "This server", "Operation", "Namespace", "Key"]}
              rows={residency.audit}
              row={(a) => (
                <tr key={a.id}>
                  <td>{new Date(a.at).toLocaleString()}</td>
                  <td>{a.tenant}</td>
                  <td>{a.tenantRegion}</td>
                  <td>{a.serverRegion}</td>
                  <td>
                    <code>{a.operation}</code>
                  </td>
                  <td>{a.namespace ?? "–"}</td>
                  <td>{a.key ?? "–"}</td>
                </tr>
              )}
            />
          )}
        </section>
      )}
    </>
  );
}
