"use client";
// Pieces every dashboard page repeats: polling a route, its loading and error lines, a table's header row.

import { type ReactNode, useEffect, useState } from "react";
import { must, sh } from "./api";

/**
 * Calls `load` now and every `everyMs` while mounted (again when `deps` change); the newest answer, and the
 * error of the last call if it failed (cleared by the next success).
 */
export function usePolled<T>(load: (() => Promise<T>) | undefined, everyMs: number, deps: readonly unknown[] = []) {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  useEffect(
    () => {
      if (!load) return;
      const tick = () =>
        load().then(
          (d) => {
            setData(d);
            setError(undefined);
          },
          (e: Error) => setError(e.message),
        );
      void tick();
      const timer = setInterval(tick, everyMs);
      return () => clearInterval(timer);
    },
    // biome-ignore lint/correctness/useExhaustiveDependencies: the caller names what `load` depends on
    deps,
  );
  return { data, error };
}

/** The error of the last load (an alert), else `loading` (a status) while there is no data yet, else nothing. */
export function Pending({ error, loading, errorPrefix }: { error?: string; loading?: string; errorPrefix?: string }) {
  if (error)
    return (
      <p role="alert" className="bad">
        {errorPrefix}
        {error}
      </p>
    );
  return loading ? (
    <p className="muted" role="status">
      {loading}
    </p>
  ) : null;
}

/** One figure of a stats row: a label over its value (`value`, or the children; `tone` colours it; `testId` names it for tests). */
export function Stat(props: {
  label: ReactNode;
  testId?: string;
  tone?: string;
  value?: ReactNode;
  children?: ReactNode;
}) {
  const { label, testId, tone, value, children } = props;
  return (
    <div className="stat">
      <div className="label">{label}</div>
      <div className={tone ? `value ${tone}` : "value"} data-testid={testId}>
        {children ?? value}
      </div>
    </div>
  );
}

/** The options of a select, each value its own label. */
export function Options({ values }: { values: readonly string[] }) {
  return values.map((v) => (
    <option key={v} value={v}>
      {v}
    </option>
  ));
}

/** A table: a header row, then one row per item (`row` gives each its key). */
export function DataTable<T>(props: {
  testId?: string;
  columns: readonly ReactNode[];
  rows: readonly T[];
  row: (item: T) => ReactNode;
}) {
  return (
    <table data-testid={props.testId}>
      <HeaderRow columns={props.columns} />
      <tbody>{props.rows.map(props.row)}</tbody>
    </table>
  );
}

/** A table's header row: one column header per name (a ReactNode for a header that is not plain text). */
export function HeaderRow({ columns }: { columns: readonly ReactNode[] }) {
  return (
    <thead>
      <tr>
        {columns.map((c, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: a fixed list of columns, in a fixed order
          <th key={i} scope="col">
            {c}
          </th>
        ))}
      </tr>
    </thead>
  );
}

/** Where a platform admin picks a tenant, a tenant's admin sees its own. */
export function OwnTenant({ tenant }: { tenant: string | undefined }) {
  return (
    <p data-testid="own-tenant">
      Tenant <strong>{tenant}</strong>
    </p>
  );
}

/**
 * The tenant a page shows: a platform admin's choice among the tenants with state or keys (the first by
 * default), a tenant admin's own. `error` is set when the tenants could not be listed.
 */
export function useTenantChoice(viewer: { tenant: string; platformAdmin: boolean }) {
  const [tenants, setTenants] = useState<string[]>([]);
  const [tenant, setTenant] = useState(viewer.platformAdmin ? "" : viewer.tenant);
  const [error, setError] = useState<string>();
  useEffect(() => {
    if (!viewer.platformAdmin) {
      setTenants([viewer.tenant]);
      setTenant(viewer.tenant);
      return;
    }
    must(sh.GET("/api/v1/admin/tenants")).then(
      (t) => {
        setTenants(t.tenants);
        setTenant((cur) => cur || t.tenants[0] || "default");
      },
      (e: Error) => setError(e.message),
    );
  }, [viewer.platformAdmin, viewer.tenant]);
  return { tenant, setTenant, tenants, error };
}

/** The tenant picker of a platform admin (a select labelled Tenant); a tenant admin's own tenant, stated. */
export function TenantField(props: {
  platformAdmin: boolean;
  tenant: string;
  tenants: readonly string[];
  onChange(tenant: string): void;
}) {
  if (!props.platformAdmin) return <OwnTenant tenant={props.tenant} />;
  return (
    <label>
      Tenant
      <select value={props.tenant} onChange={(e) => props.onChange(e.target.value)}>
        <Options values={[...new Set([props.tenant, ...props.tenants])].filter(Boolean)} />
      </select>
    </label>
  );
}

/** A record's versions as a row of buttons (the selected one pressed); `testIdPrefix` + version names each. */
export function VersionTimeline(props: {
  label: string;
  versions: readonly { version: number }[];
  selected: number | undefined;
  onSelect(version: number): void;
  testIdPrefix: string;
}) {
  return (
    <div className="timeline" role="group" aria-label={props.label}>
      {props.versions.map((v) => (
        <button
          key={v.version}
          type="button"
          aria-pressed={v.version === props.selected}
          onClick={() => props.onSelect(v.version)}
          data-testid={`${props.testIdPrefix}${v.version}`}
        >
          v{v.version}
        </button>
      ))}
    </div>
  );
}

/** A page's first card: the tenant picker (a platform admin's) or the own tenant, then the page's content. */
export function TenantCard(props: {
  platformAdmin: boolean;
  choice: ReturnType<typeof useTenantChoice>;
  /** Called after a platform admin picks another tenant (to drop what was selected in the old one). */
  onChange?(): void;
  children: ReactNode;
}) {
  const { choice } = props;
  return (
    <section className="card">
      <TenantField
        platformAdmin={props.platformAdmin}
        tenant={choice.tenant}
        tenants={choice.tenants}
        onChange={(t) => {
          choice.setTenant(t);
          props.onChange?.();
        }}
      />
      {props.children}
    </section>
  );
}
