"use client";

import { useEffect, useState } from "react";
import type { Schemas } from "../../../server/client";
import { RUN_STATUSES as STATUSES, type RunStatus } from "../../../server/shared/types";
import { must, sh } from "./api";
import { DataTable, Options, Stat } from "./parts";

const tone = (status: string) =>
  status === "succeeded"
    ? "ok"
    : status === "failed"
      ? "bad"
      : status === "cancelled" || status === "cancelling"
        ? "warn"
        : undefined;

export function WorkflowsPage() {
  const [status, setStatus] = useState<RunStatus | "">("");
  const [runs, setRuns] = useState<Schemas["AdminWorkflowRunList"]["runs"]>();
  const [selected, setSelected] = useState<{ tenant: string; runId: string }>();
  const [detail, setDetail] = useState<Schemas["AdminWorkflowRun"]>();
  const [error, setError] = useState<string>();

  useEffect(() => {
    const load = () =>
      must(
        sh.GET("/api/v1/admin/workflows", { params: { query: { limit: 100, ...(status ? { status } : {}) } } }),
      ).then(
        (d) => {
          setRuns(d.runs);
          setError(undefined);
        },
        (e: Error) => setError(e.message),
      );
    void load();
    const timer = setInterval(load, 3000);
    return () => clearInterval(timer);
  }, [status]);

  useEffect(() => {
    if (!selected) return;
    const load = () =>
      must(sh.GET("/api/v1/admin/workflows/{tenant}/{runId}", { params: { path: selected } })).then(
        setDetail,
        (e: Error) => setError(e.message),
      );
    void load();
    const timer = setInterval(load, 2000);
    return () => clearInterval(timer);
  }, [selected]);

  return (
    <>
      <h1>Workflows</h1>
      {error ? (
        <p role="alert" className="bad">
          {error}
        </p>
      ) : null}
      <section className="card">
        <h2>Recent runs</h2>
        <label>
          Status{" "}
          <select
            style={{ width: "auto" }}
            value={status}
            onChange={(e) => setStatus(e.target.value as RunStatus | "")}
            data-testid="workflow-status-filter"
          >
            <option value="">all</option>
            <Options values={STATUSES} />
          </select>
        </label>
        {!runs ? (
          <p className="muted" role="status">
            Loading runs…
          </p>
        ) : runs.length === 0 ? (
          <p className="muted">No runs yet: start one with POST /api/v1/workflows.</p>
        ) : (
          <DataTable
            testId="workflow-runs"
            columns={["Run", "Tenant", "Type", "Status", "Progress", "Attempts", "Resumes", "Worker", "Updated"]}
            rows={runs}
            row={(r) => (
              <tr key={`${r.tenant}/${r.runId}`} data-run={r.runId}>
                <td>
                  <button
                    type="button"
                    className="secondary"
                    onClick={() => setSelected({ tenant: r.tenant, runId: r.runId })}
                  >
                    <code>{r.runId}</code>
                  </button>
                </td>
                <td>{r.tenant}</td>
                <td>{r.type}</td>
                <td className={tone(r.status)}>{r.status}</td>
                <td>
                  <progress
                    max={r.totalSteps}
                    value={r.completedSteps}
                    aria-label={`${r.completedSteps} of ${r.totalSteps} steps`}
                  />{" "}
                  {r.completedSteps}/{r.totalSteps}
                </td>
                <td>{r.attempts}</td>
                <td>{r.resumes}</td>
                <td>{r.worker ?? "–"}</td>
                <td>{new Date(r.updatedAt).toLocaleTimeString()}</td>
              </tr>
            )}
          />
        )}
      </section>
      {detail ? (
        <section
          className="card"
          style={{ marginTop: "1rem" }}
          data-testid="workflow-detail"
          aria-label={`Run ${detail.runId}`}
        >
          <h2>
            Run <code>{detail.runId}</code> ({detail.tenant})
          </h2>
          <div className="stats">
            <Stat label="Status" tone={tone(detail.status)} testId="workflow-detail-status" value={detail.status} />
            <Stat label="Step">
              {detail.step} of {detail.totalSteps}
            </Stat>
            <Stat label="Attempts">
              {detail.attempts} (max {detail.maxAttempts} per step)
            </Stat>
            <Stat label="Resumes" value={detail.resumes} />
            <Stat label="Version" value={detail.version} />
          </div>
          {detail.error ? (
            <p className="bad">
              Failed at step {detail.error.step}: {detail.error.message}
            </p>
          ) : detail.lastError ? (
            <p className="warn">Last error: {detail.lastError}</p>
          ) : null}
          <h3>Checkpoints</h3>
          {detail.checkpoints.length === 0 ? (
            <p className="muted">No step has completed yet.</p>
          ) : (
            <DataTable
              testId="workflow-checkpoints"
              columns={["Step", "Name", "Attempt", "Worker", "Duration", "Completed"]}
              rows={detail.checkpoints}
              row={(c) => (
                <tr key={c.step}>
                  <td>{c.step}</td>
                  <td>{c.name}</td>
                  <td>{c.attempt}</td>
                  <td>{c.worker}</td>
                  <td>{c.durationMs} ms</td>
                  <td>{new Date(c.completedAt).toLocaleTimeString()}</td>
                </tr>
              )}
            />
          )}
          {detail.result !== null && detail.result !== undefined ? (
            <>
              <h3>Result</h3>
              <pre>{JSON.stringify(detail.result, null, 2)}</pre>
            </>
          ) : null}
        </section>
      ) : null}
    </>
  );
}
