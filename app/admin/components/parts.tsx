"use client";
// Pieces every dashboard page repeats: polling a route, its loading and error lines, a table's header row.

import { type ReactNode, useEffect, useState } from "react";

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

/** Until there is data: the error (an alert) or a loading line (a status). */
export function Pending({ error, loading, errorPrefix }: { error?: string; loading: string; errorPrefix?: string }) {
  return error ? (
    <p role="alert" className="bad">
      {errorPrefix}
      {error}
    </p>
  ) : (
    <p className="muted" role="status">
      {loading}
    </p>
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
