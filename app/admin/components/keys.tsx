"use client";

import { useCallback, useEffect, useState } from "react";
import type { Schemas } from "../../../server/client";
import { SCOPES } from "../../../server/shared/types";
import { must, ok, sh } from "./api";
import { DataTable, OwnTenant } from "./parts";
import { useViewer } from "./viewer";

/**
 * API keys: a platform admin mints and revokes keys of any tenant with any scope; a tenant admin those of
 * its own tenant, without platform:admin (the API refuses the rest; this page does not offer it).
 */
export function Keys() {
  const { platformAdmin, tenant } = useViewer();
  const [keys, setKeys] = useState<Schemas["ApiKey"][]>();
  const [created, setCreated] = useState<Schemas["CreatedApiKey"]>();
  const [error, setError] = useState<string>();
  const load = useCallback(
    () =>
      must(sh.GET("/api/v1/admin/keys")).then(
        (r) => setKeys(r.keys),
        (e: Error) => setError(e.message),
      ),
    [],
  );
  useEffect(() => void load(), [load]);
  return (
    <>
      <h1>API keys</h1>
      <section className="card">
        <h2>Create a key</h2>
        <form
          className="row"
          onSubmit={async (e) => {
            e.preventDefault();
            const form = new FormData(e.currentTarget);
            setError(undefined);
            try {
              const name = form.get("name");
              const k = await must(
                sh.POST("/api/v1/admin/keys", {
                  body: {
                    tenant: platformAdmin ? String(form.get("tenant") ?? "") : tenant,
                    name: typeof name === "string" && name ? name : undefined,
                    scopes: form.getAll("scopes").map(String),
                  },
                }),
              );
              setCreated(k);
              await load();
            } catch (err) {
              setError((err as Error).message);
            }
          }}
        >
          {platformAdmin ? (
            <label>
              Tenant
              <input name="tenant" required defaultValue="default" />
            </label>
          ) : (
            <OwnTenant tenant={tenant} />
          )}
          <label>
            Name
            <input name="name" placeholder="optional" />
          </label>
          <fieldset>
            <legend>Scopes</legend>
            {SCOPES.filter((s) => platformAdmin || s !== "platform:admin").map((s) => (
              <label key={s} style={{ flexDirection: "row", alignItems: "center" }}>
                <input type="checkbox" name="scopes" value={s} defaultChecked={s.startsWith("state")} /> {s}
              </label>
            ))}
          </fieldset>
          <button type="submit">Create key</button>
        </form>
        {created && (
          <div role="status" data-testid="created-key">
            <p>New key (shown only now — copy it):</p>
            <pre tabIndex={0}>{created.key}</pre>
          </div>
        )}
        {error && (
          <p role="alert" className="bad">
            {error}
          </p>
        )}
      </section>
      <section className="card">
        <h2>Keys</h2>
        {!keys ? (
          <p className="muted" role="status">
            Loading keys…
          </p>
        ) : (
          <DataTable
            testId="keys"
            columns={[
              "Id",
              "Tenant",
              "Name",
              "Scopes",
              "Created",
              "Status",
              <span key="action" className="muted">
                Action
              </span>,
            ]}
            rows={keys}
            row={(k) => (
              <tr key={k.id} data-testid={`key-${k.id}`}>
                <td>
                  <code>{k.id}</code>
                </td>
                <td>{k.tenant}</td>
                <td>{k.name ?? "–"}</td>
                <td>{k.scopes.join(", ")}</td>
                <td>{new Date(k.createdAt).toLocaleString()}</td>
                <td className={k.revokedAt ? "bad" : "ok"}>{k.revokedAt ? "revoked" : "active"}</td>
                <td>
                  {!k.revokedAt && (platformAdmin || !k.scopes.includes("platform:admin")) && (
                    <button
                      type="button"
                      className="secondary"
                      aria-label={`Revoke key ${k.id}`}
                      onClick={async () => {
                        try {
                          await ok(sh.DELETE("/api/v1/admin/keys/{id}", { params: { path: { id: k.id } } }));
                          await load();
                        } catch (err) {
                          setError((err as Error).message);
                        }
                      }}
                    >
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            )}
          />
        )}
      </section>
    </>
  );
}
