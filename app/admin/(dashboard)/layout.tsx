import "../admin.css";
import { headers } from "next/headers";
import { redirect } from "next/navigation";
import type { ReactNode } from "react";
import { dashboardViewer } from "../../../server/next-entry";
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
  const viewer = await dashboardViewer((await headers()).get("cookie") ?? undefined);
  if (!viewer) redirect("/admin/login");
  return (
    <div className="sh-admin">
      <header>
        <span className="brand">Statehouse</span>
        <Nav platformAdmin={viewer.platformAdmin} />
        <span style={{ marginLeft: "auto" }} data-testid="viewer">
          {viewer.platformAdmin ? "platform admin" : `tenant ${viewer.tenant}`} · key {viewer.keyId.slice(0, 8)}
        </span>
        <LogoutButton />
      </header>
      <main>
        <ViewerProvider viewer={{ tenant: viewer.tenant, platformAdmin: viewer.platformAdmin }}>
          {children}
        </ViewerProvider>
      </main>
    </div>
  );
}
