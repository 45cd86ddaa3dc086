import type { Context } from "hono";
import type { IncomingMessage } from "node:http";
import type { Principal } from "../auth/api-keys";
import { ClientAddresses } from "./client-address";
import { HttpError } from "./problem";
import type { ApiServices } from "./services";

const resolvers = new WeakMap<object, ClientAddresses>();

function resolverFor(services: ApiServices): ClientAddresses {
  let resolver = resolvers.get(services.config);
  if (!resolver)
    resolvers.set(services.config, (resolver = new ClientAddresses(services.config.STATEHOUSE_TRUST_PROXY)));
  return resolver;
}

/**
 * The caller's address for the failure throttle. server/main.ts passes @hono/node-server's
 * `{ incoming }` as the fetch env, so the socket is at hand; the Next.js mount has none (see
 * ClientAddresses.resolve). Resolved only when a check fails or some address is blocked.
 */
export function clientAddress(c: Context, services: ApiServices): string {
  const resolver = resolverFor(services);
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const peer = incoming?.socket?.remoteAddress;
  return resolver.resolve(peer, resolver.trustsProxies ? c.req.header("x-forwarded-for") : undefined);
}

/**
 * Checks a presented key (an API key or the admin token; undefined = a malformed Authorization
 * header) with failed checks throttled per client address: after STATEHOUSE_AUTH_FAILURES failures in
 * a window (STATEHOUSE_AUTH_FAILURE_WINDOW_SECONDS) the address gets 429 with Retry-After instead of 401.
 *
 * Only failures count, and a valid key is checked before anything is refused: a blocked address's
 * keys that this process created or verified in the last hour, and an admin token of 32 characters or
 * more, are still accepted (recognised in memory, then the usual check, which sees revocations).
 * Everything else from a blocked address is refused without being checked: no SQL for random key ids,
 * and no verdict on a shorter, operator-chosen STATEHOUSE_ADMIN_TOKEN (answering on it would be a
 * guessing oracle). What a blocked address can still learn is whether a guess is the 256-bit secret
 * of a recently used key id (or a 32+ character admin token), which no number of guesses can find.
 */
export async function checkKey(
  c: Context,
  services: ApiServices,
  token: string | undefined,
  refusal: () => HttpError,
): Promise<Principal> {
  const throttle = services.authThrottle;
  // The address is resolved only when some address is blocked or this check fails: a valid key costs one clock read here.
  let address = throttle.anyBlocked() ? clientAddress(c, services) : undefined;
  const blocked = address === undefined ? 0 : throttle.blockedFor(address);
  if (blocked > 0) {
    const principal =
      token !== undefined && services.keys.knownSecretMatches(token)
        ? await services.keys.authenticate(token)
        : undefined;
    if (principal) return principal;
    throw rateLimited(blocked);
  }
  const principal = token === undefined ? undefined : await services.keys.authenticate(token);
  if (principal) return principal;
  const refuseFor = await throttle.fail((address ??= clientAddress(c, services)));
  if (refuseFor > 0) throw rateLimited(refuseFor);
  throw refusal();
}

function rateLimited(retryAfterSeconds: number): HttpError {
  return new HttpError(
    "rate_limited",
    "too many failed authentications from this address; try again later",
    { retryAfterSeconds },
    { "retry-after": String(retryAfterSeconds) },
  );
}

/**
 * Refuses a request that a browser marks as sent by another site (login CSRF): `Sec-Fetch-Site` other
 * than `same-origin` or `none` (a typed URL) — `same-site` too, since a sibling subdomain is another
 * application — or an `Origin` whose host is not this request's host (`null` included). Requests with
 * neither header (curl, scripts) pass: they carry no victim's cookies. Behind a proxy named in
 * STATEHOUSE_TRUST_PROXY, the host it forwards (X-Forwarded-Host) counts as this request's host too.
 */
export function refuseCrossSite(c: Context, services: ApiServices): void {
  const site = c.req.header("sec-fetch-site");
  if (site !== undefined && site !== "same-origin" && site !== "none") {
    throw new HttpError("forbidden", "the login accepts only same-origin requests", { secFetchSite: site });
  }
  const origin = c.req.header("origin");
  if (origin === undefined) return;
  let from: URL | undefined;
  try {
    from = new URL(origin);
  } catch {
    // "null" (sandboxed frames, some redirects) and anything unparsable: no origin we can match.
  }
  const hostOf = (h: string | undefined) => {
    try {
      return h && from ? new URL(`${from.protocol}//${h.trim()}`).host : undefined;
    } catch {
      return undefined;
    }
  };
  const hosts = [hostOf(c.req.header("host"))];
  if (viaTrustedProxy(c, services)) hosts.push(hostOf(c.req.header("x-forwarded-host")?.split(",")[0]));
  if (!from || !(from.protocol === "http:" || from.protocol === "https:") || !hosts.includes(from.host)) {
    throw new HttpError("forbidden", "the login accepts only same-origin requests (Origin does not match Host)");
  }
}

function viaTrustedProxy(c: Context, services: ApiServices): boolean {
  const resolver = resolverFor(services);
  if (!resolver.trustsProxies) return false;
  const peer = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket?.remoteAddress;
  return peer === undefined || resolver.isTrustedPeer(peer);
}
