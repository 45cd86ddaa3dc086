import "../admin.css";
import { cookies } from "next/headers";
import { redirect } from "next/navigation";
import type { ReactNode } from "react";
import { SESSION_COOKIE } from "../../../server/auth/admin-sessions";
import { grants, isPlatformAdmin } from "../../../server/http/access";
import { getServices } from "../../../server/runtime";
import { LogoutButton } from "../components/logout-button";
import { Nav } from "../components/nav";
import { ViewerProvider } from "../components/viewer";

export const dynamic = "force-dynamic";
export const metadata = { title: "Statehouse admin" };

/**
 * Every dashboard page: only with a valid session cookie whose key is still active and holds admin; else
 * the login page. Pages see the key's tenant and whether it is a platform admin (tenant picker, pages
 * across tenants); the API enforces the same, this only keeps pages from calling what would be refused.
 */
export default async function DashboardLayout({ children }: { children: ReactNode }) {
  const services = await getServices();
  const session = await services.session((await cookies()).get(SESSION_COOKIE)?.value);
  const principal = session && (await services.keys.principalById(session.keyId).catch(() => undefined));
  if (!session || !principal || !grants(principal.scopes, "admin")) redirect("/admin/login");
  const viewer = { tenant: principal.tenant, platformAdmin: isPlatformAdmin(principal) };
  return (
    <div className="sh-admin">
      <header>
        <span className="brand">Statehouse</span>
        <Nav platformAdmin={viewer.platformAdmin} />
        <span style={{ marginLeft: "auto" }} data-testid="viewer">
          {viewer.platformAdmin ? "platform admin" : `tenant ${viewer.tenant}`} · key {session.keyId.slice(0, 8)}
        </span>
        <LogoutButton />
      </header>
      <main>
        <ViewerProvider viewer={viewer}>{children}</ViewerProvider>
      </main>
    </div>
  );
}
