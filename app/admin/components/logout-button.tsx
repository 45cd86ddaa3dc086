"use client";

import { logout } from "./api";

export function LogoutButton() {
  return (
    <button
      type="button"
      className="secondary"
      onClick={async () => {
        await logout().catch(() => {});
        window.location.href = "/admin/login";
      }}
    >
      Log out
    </button>
  );
}
