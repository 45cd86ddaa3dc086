import { type Principal, type Scope, SCOPES } from "../auth/api-keys";
import { HttpError } from "./problem";

/**
 * What a key may do, in one place. `platform:admin` is the only scope that acts across tenants and
 * implies `admin`; `admin` implies every other scope, within the key's own tenant only.
 */
export function grants(scopes: ReadonlySet<Scope>, scope: Scope): boolean {
  if (scopes.has(scope) || scopes.has("platform:admin")) return true;
  return scope !== "platform:admin" && scopes.has("admin");
}

/** Whether the key may act on every tenant (platform admin), not only its own. */
export function isPlatformAdmin(principal: Principal): boolean {
  return principal.scopes.has("platform:admin");
}

/**
 * `tenant` when the key may see it (its own tenant; any tenant for a platform admin). Otherwise 404,
 * never 403: a key never learns whether another tenant exists.
 */
export function visibleTenant(principal: Principal, tenant: string): string {
  if (tenant === principal.tenant || isPlatformAdmin(principal)) return tenant;
  throw new HttpError("not_found", `no tenant ${JSON.stringify(tenant.slice(0, 64))}`);
}

/** The tenant filter of a list across tenants: every tenant (undefined) for a platform admin, else the key's own. */
export function visibleTenants(principal: Principal): string | undefined {
  return isPlatformAdmin(principal) ? undefined : principal.tenant;
}

/**
 * A key grants (to a key it mints) or takes away (by revoking a key) only scopes it holds itself, so a
 * tenant admin can neither mint nor revoke a platform admin. 403: the scope is the caller's own business.
 */
export function assertMayGrant(principal: Principal, scopes: readonly string[]): void {
  // Unknown names are left to the key service, which refuses them as invalid (422).
  const beyond = scopes.filter(
    (s) => (SCOPES as readonly string[]).includes(s) && !grants(principal.scopes, s as Scope),
  );
  if (beyond.length)
    throw new HttpError(
      "forbidden",
      `this key cannot grant or revoke ${beyond.join(", ")}: only a key that holds a scope can`,
      { requiredScope: beyond[0] },
    );
}

/** What a key may do with its tenant's users' long-term memories in an agent's turn (memories:read / write). */
export function memoryAccess(principal: Principal): { recall: boolean; promote: boolean } {
  return { recall: grants(principal.scopes, "memories:read"), promote: grants(principal.scopes, "memories:write") };
}
