// Next.js's one door into the server: the API for the app/api catch-all mount, and who a dashboard
// session cookie belongs to (the dashboard layout's check). app/ imports nothing else from server/
// but the typed client and server/shared (test/unit/app-imports.test.ts keeps it so).
import { readCookie, SESSION_COOKIE } from "./auth/admin-sessions";
import { grants, isPlatformAdmin } from "./http/access";
import { type Api, createApi } from "./http/app";
import { getServices } from "./runtime";

const KEY = Symbol.for("statehouse.api");
const holder = globalThis as unknown as Record<symbol, Promise<Api> | undefined>;

/** The same API the custom server serves, built once per process, for the app/api catch-all mount. */
export function getApi(): Promise<Api> {
  holder[KEY] ??= getServices().then(createApi);
  return holder[KEY];
}

/** Who is looking at the dashboard: the session's key, its tenant, and whether it sees every tenant. */
export interface DashboardViewer {
  keyId: string;
  tenant: string;
  platformAdmin: boolean;
}

/**
 * The viewer of a request's cookies (its `Cookie` header), or undefined unless the session is valid, not
 * logged out, and its key is still active and holds admin: the same checks the API makes for the cookie.
 */
export async function dashboardViewer(cookieHeader: string | undefined): Promise<DashboardViewer | undefined> {
  const services = await getServices();
  const session = await services.session(readCookie(cookieHeader, SESSION_COOKIE));
  if (!session) return undefined;
  const principal = await services.keys.principalById(session.keyId).catch(() => undefined);
  if (!principal || !grants(principal.scopes, "admin")) return undefined;
  return { keyId: session.keyId, tenant: principal.tenant, platformAdmin: isPlatformAdmin(principal) };
}
