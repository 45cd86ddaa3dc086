import "../admin.css";
import { cookies } from "next/headers";
import { redirect } from "next/navigation";
import type { ReactNode } from "react";
import { SESSION_COOKIE } from "../../../server/auth/admin-sessions";
import { getServices } from "../../../server/runtime";
import { LogoutButton } from "../components/logout-button";
import { Nav } from "../components/nav";

export const dynamic = "force-dynamic";
export const metadata = { title: "Statehouse admin" };

/** Every dashboard page: only with a valid session cookie whose key is still active; else the login page. */
export default async function DashboardLayout({ children }: { children: ReactNode }) {
  const services = await getServices();
  const session = await services.session((await cookies()).get(SESSION_COOKIE)?.value);
  const principal = session && (await services.keys.principalById(session.keyId).catch(() => undefined));
  if (!session || !principal?.scopes.has("admin")) redirect("/admin/login");
  return (
    <div className="sh-admin">
      <header>
        <span className="brand">Statehouse</span>
        <Nav />
        <span style={{ marginLeft: "auto" }}>
          {session.tenant} · key {session.keyId.slice(0, 8)}
        </span>
        <LogoutButton />
      </header>
      <main>{children}</main>
    </div>
  );
}
