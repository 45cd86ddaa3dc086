"use client";
// The Agents page: a tenant's agents with live sessions and the last day's turns, latency and tokens;
// one agent's hourly figures, its definition's version history, and its newest conversations.

import { useState } from "react";
import type { Schemas } from "../../../server/client";
import { must, sh } from "./api";
import { Chart, type Series } from "./overview";
import { DataTable, Pending, Stat, TenantCard, usePolled, useTenantChoice, VersionTimeline } from "./parts";
import { useViewer } from "./viewer";

type Agent = Schemas["AdminAgent"];

const ms = (v: number | null | undefined) => (v === null || v === undefined ? "–" : `${v} ms`);
const count = (n: number) => n.toLocaleString("en-US");
const hour = (t: number) => new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

export function AgentsPage() {
  const viewer = useViewer();
  const choice = useTenantChoice(viewer);
  const { tenant, error: tenantsError } = choice;
  const [selected, setSelected] = useState<string>();
  const overview = usePolled(
    tenant ? () => must(sh.GET("/api/v1/admin/agents/{tenant}", { params: { path: { tenant } } })) : undefined,
    5000,
    [tenant],
  );
  const agents = overview.data?.agents;
  const agent = agents?.find((a) => a.name === selected);
  return (
    <>
      <h1>Agents</h1>
      <TenantCard platformAdmin={viewer.platformAdmin} choice={choice} onChange={() => setSelected(undefined)}>
        <Pending error={overview.error ?? tenantsError} loading={agents ? undefined : "Loading agents…"} />
        {agents ? (
          <>
            <h2>Last 24 hours</h2>
            <DataTable
              testId="agent-list"
              columns={[
                "Agent",
                "Model",
                "Version",
                "Live sessions",
                "Turns",
                "Failed",
                "p50",
                "p95",
                "Tokens in",
                "Tokens out",
              ]}
              rows={agents}
              row={(a) => (
                <tr key={a.name} data-agent={a.name}>
                  <td>
                    <button
                      type="button"
                      className="secondary"
                      aria-pressed={a.name === selected}
                      onClick={() => setSelected(a.name)}
                    >
                      {a.name}
                    </button>
                    {a.builtIn ? <span className="muted"> (built in)</span> : null}
                  </td>
                  <td>
                    {a.model.provider}
                    {a.model.name ? ` · ${a.model.name}` : ""}
                  </td>
                  <td>{a.builtIn ? "–" : a.version}</td>
                  <td>{a.activeSessions}</td>
                  <td>{count(a.last24h.turns)}</td>
                  <td className={a.last24h.failedTurns ? "bad" : undefined}>{a.last24h.failedTurns}</td>
                  <td>{ms(a.last24h.latencyMs?.p50)}</td>
                  <td>{ms(a.last24h.latencyMs?.p95)}</td>
                  <td>{count(a.last24h.inputTokens)}</td>
                  <td>{count(a.last24h.outputTokens)}</td>
                </tr>
              )}
            />
            {overview.data?.truncated ? (
              <p className="warn">This tenant has more agents than the 200 shown (the first by name).</p>
            ) : null}
          </>
        ) : null}
      </TenantCard>
      {agent ? <AgentDetail tenant={tenant} agent={agent} /> : null}
    </>
  );
}

function AgentDetail({ tenant, agent }: { tenant: string; agent: Agent }) {
  const path = { tenant, name: agent.name };
  const conversations = usePolled(
    () =>
      must(sh.GET("/api/v1/admin/agents/{tenant}/{name}/conversations", { params: { path, query: { limit: 50 } } })),
    5000,
    [tenant, agent.name],
  );
  // The built-in agent has no record: its definition is the server's.
  const history = usePolled(
    agent.builtIn
      ? undefined
      : () =>
          must(
            sh.GET("/api/v1/admin/state/{tenant}/{ns}/{key}/history", {
              params: { path: { tenant, ns: "agents", key: agent.name }, query: { limit: 50 } },
            }),
          ),
    15_000,
    [tenant, agent.name, agent.version],
  );
  const [version, setVersion] = useState<number>();
  const shown = history.data?.versions.find((v) => v.version === (version ?? agent.version));
  const hourly = agent.hourly.map((h) => ({ ...h, t: Date.parse(h.at) }));
  const tokens: Series = {
    keys: ["input", "output"],
    data: hourly.map((h) => ({ t: h.t, input: h.inputTokens, output: h.outputTokens })),
  };
  const latency: Series = { keys: ["p95"], data: hourly.map((h) => ({ t: h.t, p95: h.p95Ms })) };
  const turns: Series = { keys: ["turns"], data: hourly.map((h) => ({ t: h.t, turns: h.turns })) };
  return (
    <section
      className="card"
      style={{ marginTop: "1rem" }}
      data-testid="agent-detail"
      aria-label={`Agent ${agent.name}`}
    >
      <h2>{agent.name}</h2>
      {agent.description ? <p>{agent.description}</p> : null}
      <div className="stats">
        <Stat label="Turns (24 h)" testId="agent-turns" value={count(agent.last24h.turns)} />
        <Stat label="Mean turn latency" testId="agent-latency-mean" value={ms(agent.last24h.latencyMs?.mean)} />
        <Stat label="p95 turn latency" value={ms(agent.last24h.latencyMs?.p95)} />
        <Stat label="Tokens in / out" testId="agent-tokens">
          {count(agent.last24h.inputTokens)} / {count(agent.last24h.outputTokens)}
        </Stat>
        <Stat label="Live sessions" value={agent.activeSessions} />
      </div>
      <p className="muted">
        Latency runs from a turn's start to the model's last token. Tokens are the model's own counts where its upstream
        reports them, estimated (about four characters a token) for the offline model.
      </p>
      <div className="grid">
        <Chart title="Turns per hour" unit="turns" series={turns} time={hour} testId="agent-turns-chart" />
        <Chart
          title="Turn latency per hour (p95)"
          unit="ms"
          series={latency}
          time={hour}
          testId="agent-latency-chart"
        />
        <Chart title="Tokens per hour" unit="tokens" series={tokens} time={hour} testId="agent-tokens-chart" />
      </div>

      <h3>Definition history</h3>
      {agent.builtIn ? (
        <p className="muted">The built-in agent is defined by the server's configuration; it has no versions.</p>
      ) : (
        <>
          <Pending error={history.error} loading={history.data ? undefined : "Loading versions…"} />
          <VersionTimeline
            label="Definition versions"
            versions={history.data?.versions ?? []}
            selected={shown?.version}
            onSelect={setVersion}
            testIdPrefix="definition-version-"
          />
          {shown ? (
            <>
              <p className="muted">
                Version {shown.version}: {shown.operation} at {new Date(shown.at).toLocaleString()}
                {shown.actor ? ` by ${shown.actor}` : ""}
              </p>
              <pre data-testid="definition-value" tabIndex={0} aria-label={`Definition at version ${shown.version}`}>
                {JSON.stringify(shown.value, null, 2)}
              </pre>
            </>
          ) : null}
        </>
      )}

      <h3>Newest conversations</h3>
      <Pending error={conversations.error} loading={conversations.data ? undefined : "Loading conversations…"} />
      {conversations.data && conversations.data.conversations.length === 0 ? (
        <p className="muted">No live sessions or conversations.</p>
      ) : conversations.data ? (
        <DataTable
          testId="agent-conversations"
          columns={["Session", "Turns", "Definition", "User", "Updated", "Expires", "Version"]}
          rows={conversations.data.conversations}
          row={(c) => (
            <tr key={c.id} data-conversation={c.id}>
              <td>
                <code>{c.id}</code>
              </td>
              <td>{c.turns}</td>
              <td>{agent.builtIn ? "–" : `v${c.agentVersion}`}</td>
              <td>{c.userId ?? "–"}</td>
              <td>{new Date(c.updatedAt).toLocaleString()}</td>
              <td>{c.expiresAt ? new Date(c.expiresAt).toLocaleString() : "never"}</td>
              <td>{c.version}</td>
            </tr>
          )}
        />
      ) : null}
      <p className="muted">Each is a record of the sessions namespace: the State page shows its versions.</p>
    </section>
  );
}
