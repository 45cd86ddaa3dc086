"use client";

import { type AdminSessionBody, createStatehouseClient } from "../../../server/client";

let csrf: string | undefined;
/** The session's CSRF token, asked for once (GET /api/admin/session). */
async function csrfToken(): Promise<string> {
  csrf ??= ((await (await fetch("/api/admin/session", { credentials: "same-origin" })).json()) as AdminSessionBody)
    .csrfToken;
  return csrf;
}

/**
 * The typed client, same-origin with the session cookie: paths, parameters and answers are the API's
 * own types (server/client). Mutations carry the session's CSRF token; a 401 sends the browser to login.
 */
export const sh = createStatehouseClient({ baseUrl: "", credentials: "same-origin", cache: "no-store" });
sh.use({
  async onRequest({ request }) {
    if (request.method !== "GET") request.headers.set("x-csrf-token", await csrfToken());
    return request;
  },
  onResponse({ response }) {
    if (response.status === 401) window.location.href = "/admin/login";
    return response;
  },
});

/**
 * The answer's body, or an Error with the problem's detail: for calls whose answer the page shows.
 * `await ok(sh.DELETE(...))` for calls that answer nothing.
 */
export async function must<R extends { data?: unknown; error?: unknown; response: Response }>(
  call: Promise<R>,
): Promise<Exclude<R["data"], undefined>> {
  const { data } = await ok(call);
  return data as Exclude<R["data"], undefined>;
}

export async function ok<R extends { data?: unknown; error?: unknown; response: Response }>(
  call: Promise<R>,
): Promise<R> {
  const result = await call;
  const { response, error } = result;
  if (response.status === 401) throw new Error("not logged in");
  if (!response.ok)
    throw new Error((error as { detail?: string } | undefined)?.detail ?? `${response.status} ${response.statusText}`);
  return result;
}

/** Ends the dashboard session (DELETE /api/admin/session, outside the versioned API: not in the client). */
export async function logout(): Promise<void> {
  await fetch("/api/admin/session", {
    method: "DELETE",
    headers: { "x-csrf-token": await csrfToken() },
    credentials: "same-origin",
    cache: "no-store",
  });
}

export const formatMs = (seconds: number | null | undefined) =>
  seconds === null || seconds === undefined ? "–" : `${(seconds * 1000).toFixed(seconds < 0.001 ? 3 : 2)} ms`;
export const formatBytes = (n: number | null | undefined) => {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  for (; v >= 1024 && i < units.length - 1; i++) v /= 1024;
  return `${v.toFixed(i ? 1 : 0)} ${units[i]}`;
};
export const formatTime = (t: number) =>
  new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
