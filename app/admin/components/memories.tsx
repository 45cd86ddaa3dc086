"use client";
// The Memories page: a tenant's users with long-term memories, a user's memories, a search of them by
// meaning, and a memory's versions (the memories namespace's history, as the state browser has it).

import { useState } from "react";
import type { Schemas } from "../../../server/client";
import { formatBytes, must, sh } from "./api";
import { DataTable, Pending, TenantCard, usePolled, useTenantChoice, VersionTimeline } from "./parts";
import { useViewer } from "./viewer";

type Memory = Schemas["Memory"];

export function MemoriesPage() {
  const viewer = useViewer();
  const choice = useTenantChoice(viewer);
  const { tenant, error: tenantsError } = choice;
  const [userId, setUserId] = useState<string>();
  const users = usePolled(
    tenant ? () => must(sh.GET("/api/v1/admin/memories/{tenant}", { params: { path: { tenant } } })) : undefined,
    10_000,
    [tenant],
  );
  return (
    <>
      <h1>Memories</h1>
      <TenantCard platformAdmin={viewer.platformAdmin} choice={choice} onChange={() => setUserId(undefined)}>
        <Pending error={users.error ?? tenantsError} loading={users.data ? undefined : "Loading users…"} />
        {users.data && users.data.users.length === 0 ? (
          <p className="muted">No memories yet: POST /api/v1/memories, MCP's add_memory, or an agent with longTerm.</p>
        ) : users.data ? (
          <DataTable
            testId="memory-users"
            columns={["User", "Memories", "Bytes", "Last change"]}
            rows={users.data.users}
            row={(u) => (
              <tr key={u.userId} data-user={u.userId}>
                <td>
                  <button
                    type="button"
                    className="secondary"
                    aria-pressed={u.userId === userId}
                    onClick={() => setUserId(u.userId)}
                  >
                    {u.userId}
                  </button>
                </td>
                <td>{u.memories}</td>
                <td>{formatBytes(u.bytes)}</td>
                <td>{new Date(u.lastUpdatedAt).toLocaleString()}</td>
              </tr>
            )}
          />
        ) : null}
      </TenantCard>
      {userId ? <UserMemories key={`${tenant}/${userId}`} tenant={tenant} userId={userId} /> : null}
    </>
  );
}

function UserMemories({ tenant, userId }: { tenant: string; userId: string }) {
  const listed = usePolled(
    () =>
      must(
        sh.GET("/api/v1/admin/memories/{tenant}/list", {
          params: { path: { tenant }, query: { userId, limit: 200 } },
        }),
      ),
    10_000,
    [tenant, userId],
  );
  const [query, setQuery] = useState("");
  const [found, setFound] = useState<Schemas["MemorySearchResult"]["results"]>();
  const [error, setError] = useState<string>();
  const [opened, setOpened] = useState<string>();
  const search = async () => {
    setError(undefined);
    try {
      const r = await must(
        sh.POST("/api/v1/admin/memories/{tenant}/search", {
          params: { path: { tenant } },
          body: { userId, query, limit: 20 },
        }),
      );
      setFound(r.results);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const memories: (Memory & { score?: number; matched?: boolean })[] = found ?? listed.data?.memories ?? [];
  return (
    <section className="card" style={{ marginTop: "1rem" }} aria-label={`Memories of ${userId}`}>
      <h2>Memories of {userId}</h2>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          void search();
        }}
      >
        <label>
          Search by meaning
          <input value={query} onChange={(e) => setQuery(e.target.value)} placeholder="what food do they like?" />
        </label>
        <button type="submit" disabled={!query.trim()}>
          Search
        </button>
        {found ? (
          <button type="button" className="secondary" onClick={() => setFound(undefined)}>
            Show all
          </button>
        ) : null}
      </form>
      <Pending error={error ?? listed.error} loading={listed.data ? undefined : "Loading memories…"} />
      {found && found.length === 0 ? <p className="muted">Nothing matches.</p> : null}
      <DataTable
        testId="memory-list"
        columns={[found ? "Score" : "Kind", "Text", "Subject", "Source", "Version", "Updated"]}
        rows={memories}
        row={(m) => (
          <tr key={m.id} data-memory={m.id}>
            <td>{m.score !== undefined ? `${m.score.toFixed(4)}${m.matched ? " · shares words" : ""}` : m.kind}</td>
            <td>
              <button type="button" className="secondary" onClick={() => setOpened(m.id)}>
                {m.text}
              </button>
            </td>
            <td>{m.subject ?? "–"}</td>
            <td>{m.source.type === "session" ? `${m.source.agent} · turn ${m.source.turn}` : m.source.type}</td>
            <td>{m.version}</td>
            <td>{new Date(m.updatedAt).toLocaleString()}</td>
          </tr>
        )}
      />
      {opened ? <MemoryVersions key={opened} tenant={tenant} id={opened} /> : null}
    </section>
  );
}

function MemoryVersions({ tenant, id }: { tenant: string; id: string }) {
  const history = usePolled(
    () =>
      must(
        sh.GET("/api/v1/admin/state/{tenant}/{ns}/{key}/history", {
          params: { path: { tenant, ns: "memories", key: id }, query: { limit: 50 } },
        }),
      ),
    15_000,
    [tenant, id],
  );
  const [version, setVersion] = useState<number>();
  const versions = history.data?.versions ?? [];
  const shown = versions.find((v) => v.version === (version ?? versions[0]?.version));
  const text = (v: unknown) => (v && typeof v === "object" && "text" in v ? String(v.text) : JSON.stringify(v));
  return (
    <div data-testid="memory-versions">
      <h3>Versions</h3>
      <Pending error={history.error} loading={history.data ? undefined : "Loading versions…"} />
      <VersionTimeline
        label="Memory versions"
        versions={versions}
        selected={shown?.version}
        onSelect={setVersion}
        testIdPrefix="memory-version-"
      />
      {shown ? (
        <p data-testid="memory-version-text">
          Version {shown.version} ({shown.operation} at {new Date(shown.at).toLocaleString()}):{" "}
          {shown.operation === "delete" ? "deleted" : text(shown.value)}
        </p>
      ) : null}
    </div>
  );
}
