"use client";

import { createContext, type ReactNode, useContext } from "react";

/** Who is logged in: the key's tenant, and whether it may see every tenant (platform:admin). */
export type Viewer = { tenant: string; platformAdmin: boolean };

const ViewerContext = createContext<Viewer>({ tenant: "default", platformAdmin: false });

/** Set once by the dashboard's layout (from the session's key), so pages only call routes that key may use. */
export function ViewerProvider({ viewer, children }: { viewer: Viewer; children: ReactNode }) {
  return <ViewerContext.Provider value={viewer}>{children}</ViewerContext.Provider>;
}

export const useViewer = () => useContext(ViewerContext);

/** What a tenant admin sees on a page that covers the whole deployment. */
export function PlatformOnly({ title }: { title: string }) {
  return (
    <>
      <h1>{title}</h1>
      <p className="muted" data-testid="platform-only">
        This page covers every tenant of the deployment: it needs a key with the platform:admin scope.
      </p>
    </>
  );
}
