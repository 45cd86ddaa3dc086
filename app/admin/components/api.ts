"use client";

let csrf: string | undefined;

/** Same-origin calls to Statehouse's API with the session cookie; mutations carry the CSRF token. */
export async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const method = (init.method ?? "GET").toUpperCase();
  const headers = new Headers(init.headers);
  if (method !== "GET") {
    csrf ??= (
      (await (await fetch("/api/admin/session", { credentials: "same-origin" })).json()) as { csrfToken: string }
    ).csrfToken;
    headers.set("x-csrf-token", csrf);
  }
  const res = await fetch(path, { ...init, method, headers, credentials: "same-origin", cache: "no-store" });
  if (res.status === 401) {
    window.location.href = "/admin/login";
    throw new Error("not logged in");
  }
  if (!res.ok) {
    const problem = (await res.json().catch(() => ({}))) as { detail?: string };
    throw new Error(problem.detail ?? `${res.status} ${res.statusText}`);
  }
  return (res.status === 204 ? undefined : await res.json()) as T;
}

export const formatMs = (seconds: number | null | undefined) =>
  seconds === null || seconds === undefined ? "–" : `${(seconds * 1000).toFixed(seconds < 0.001 ? 3 : 2)} ms`;
export const formatBytes = (n: number | null | undefined) => {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) (v /= 1024), i++;
  return `${v.toFixed(i ? 1 : 0)} ${units[i]}`;
};
export const formatTime = (t: number) =>
  new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
