"use client";

import { useState } from "react";

export function LoginForm() {
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  return (
    <form
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(undefined);
        const key = new FormData(e.currentTarget).get("key");
        const res = await fetch("/api/admin/session", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ key }),
          credentials: "same-origin",
        });
        setBusy(false);
        if (res.ok) window.location.href = "/admin";
        else setError(((await res.json().catch(() => ({}))) as { detail?: string }).detail ?? "Login failed");
      }}
    >
      <label>
        Admin API key
        <input name="key" type="password" autoComplete="current-password" required />
      </label>
      <p>
        <button type="submit" disabled={busy}>
          {busy ? "Logging in…" : "Log in"}
        </button>
      </p>
      {error && (
        <p role="alert" className="bad">
          {error}
        </p>
      )}
    </form>
  );
}
