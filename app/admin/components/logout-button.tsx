"use client";

import { api } from "./api";

export function LogoutButton() {
  return (
    <button
      type="button"
      className="secondary"
      onClick={async () => {
        await api("/api/admin/session", { method: "DELETE" }).catch(() => {});
        window.location.href = "/admin/login";
      }}
    >
      Log out
    </button>
  );
}
