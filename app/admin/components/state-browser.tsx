"use client";

import { Options, TenantField, useTenantChoice } from "./parts";
import { useEffect, useState } from "react";
import type { Schemas } from "../../../server/client";
import { formatBytes, must, sh } from "./api";
import { useViewer } from "./viewer";

/** A tenant's state with time travel: any tenant (a picker) for a platform admin, the key's own otherwise. */
export function StateBrowser() {
  const viewer = useViewer();
  const { tenant, setTenant, tenants, error: tenantsError } = useTenantChoice(viewer);
  const [namespaces, setNamespaces] = useState<string[]>([]);
  const [namespace, setNamespace] = useState("sessions");
  const [prefix, setPrefix] = useState("");
  const [items, setItems] = useState<Schemas["AdminKeyPage"]["items"]>();
  const [record, setRecord] = useState<Schemas["AdminRecord"]>();
  const [versions, setVersions] = useState<Schemas["AdminHistory"]["versions"]>([]);
  const [selected, setSelected] = useState<number>();
  const [error, setError] = useState<string>();

  useEffect(() => {
    must(sh.GET("/api/v1/namespaces")).then(
      (n) => setNamespaces(n.namespaces.map((x) => x.name)),
      (e: Error) => setError(e.message),
    );
  }, []);

  const search = async () => {
    setError(undefined);
    setRecord(undefined);
    try {
      const page = await must(
        sh.GET("/api/v1/admin/state/{tenant}/{ns}", {
          params: { path: { tenant, ns: namespace }, query: { limit: 200, ...(prefix ? { prefix } : {}) } },
        }),
      );
      setItems(page.items);
    } catch (e) {
      setError((e as Error).message);
    }
  };

  const open = async (key: string) => {
    setError(undefined);
    try {
      const path = { tenant, ns: namespace, key };
      const [r, h] = await Promise.all([
        must(sh.GET("/api/v1/admin/state/{tenant}/{ns}/{key}", { params: { path } })),
        must(sh.GET("/api/v1/admin/state/{tenant}/{ns}/{key}/history", { params: { path, query: { limit: 100 } } })),
      ]);
      setRecord(r);
      setVersions(h.versions);
      setSelected(r.version);
    } catch (e) {
      setError((e as Error).message);
    }
  };

  const shown = versions.find((v) => v.version === selected);
  return (
    <>
      <h1>State browser</h1>
      <section className="card">
        <form
          className="row"
          onSubmit={(e) => {
            e.preventDefault();
            void search();
          }}
        >
          <TenantField platformAdmin={viewer.platformAdmin} tenant={tenant} tenants={tenants} onChange={setTenant} />
          <label>
            Namespace
            <select value={namespace} onChange={(e) => setNamespace(e.target.value)}>
              <Options values={namespaces} />
            </select>
          </label>
          <label>
            Key prefix
            <input value={prefix} onChange={(e) => setPrefix(e.target.value)} placeholder="any" />
          </label>
          <button type="submit">Search</button>
        </form>
      </section>
      {(error ?? tenantsError) && (
        <p role="alert" className="bad">
          {error ?? tenantsError}
        </p>
      )}
      <div className="split">
        <section className="card" aria-label="Keys">
          <h2>Keys</h2>
          {!items ? (
            <p className="muted">Pick a tenant and namespace, then search.</p>
          ) : items.length === 0 ? (
            <p className="muted">No keys match.</p>
          ) : (
            <ul className="keys" data-testid="key-list">
              {items.map((i) => (
                <li key={i.key}>
                  <button type="button" onClick={() => void open(i.key)}>
                    {i.key}{" "}
                    <span className="muted">
                      v{i.version} · {formatBytes(i.sizeBytes)}
                    </span>
                  </button>
                </li>
              ))}
            </ul>
          )}
        </section>
        <section className="card" aria-label="Record">
          {!record ? (
            <p className="muted">Select a key to see its value and history.</p>
          ) : (
            <>
              <h2>
                {record.namespace} / {record.key}
              </h2>
              <p data-testid="record-meta">
                Version <strong>{record.version}</strong> · served by the <strong>{record.tier ?? "–"}</strong> tier ·
                TTL {record.ttlSeconds === null ? "none" : `${record.ttlSeconds} s`} · size{" "}
                {formatBytes(record.sizeBytes)} of {formatBytes(record.limits.fail)} allowed (warning at{" "}
                {formatBytes(record.limits.warn)})
              </p>
              <h2>History</h2>
              <div className="timeline" role="group" aria-label="Versions">
                {versions.map((v) => (
                  <button
                    key={v.version}
                    type="button"
                    aria-pressed={v.version === selected}
                    onClick={() => setSelected(v.version)}
                    data-testid={`version-${v.version}`}
                  >
                    v{v.version}
                  </button>
                ))}
              </div>
              {shown && (
                <div data-testid="version-view">
                  <p className="muted">
                    Version {shown.version}: {shown.operation} at {new Date(shown.at).toLocaleString()}
                    {shown.actor ? ` by ${shown.actor}` : ""}
                  </p>
                  <h2>Value at version {shown.version}</h2>
                  <pre data-testid="version-value" tabIndex={0} aria-label={`Value at version ${shown.version}`}>
                    {JSON.stringify(shown.value, null, 2)}
                  </pre>
                  <h2>Changes from version {shown.version - 1}</h2>
                  {shown.patch.length === 0 ? (
                    <p className="muted">No changes.</p>
                  ) : (
                    <ul data-testid="version-diff">
                      {shown.patch.map((p, i) => (
                        // biome-ignore lint/suspicious/noArrayIndexKey: a patch's operations have no identity but their order
                        <li key={i}>
                          <code>
                            {p.op} {p.path || "/"}
                          </code>
                          {"value" in p ? (
                            <>
                              {" "}
                              → <code>{JSON.stringify(p.value).slice(0, 200)}</code>
                            </>
                          ) : null}
                        </li>
                      ))}
                    </ul>
                  )}
                </div>
              )}
            </>
          )}
        </section>
      </div>
    </>
  );
}
