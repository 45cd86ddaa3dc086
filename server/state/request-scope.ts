import { AsyncLocalStorage } from "node:async_hooks";

/**
 * What one request has learnt: the backends that timed out, and the tenants the policy gate admitted.
 * A backend that timed out once in a request is not waited on again in that request (its later calls
 * fail at once), so a request waits out at most one timeout per backend: with Redis paused, one hot
 * timeout and then the warm tier's answer, never the rate limiter's timeout and then the hot tier's.
 */
export class RequestScope {
  private timedOut: Set<object> | undefined;
  private admitted: Set<string> | undefined;

  hasTimedOut(backend: object): boolean {
    return this.timedOut?.has(backend) ?? false;
  }

  markTimedOut(backend: object): void {
    (this.timedOut ??= new Set()).add(backend);
  }

  /**
   * Whether the tenant-policy gate has already let this request write for `tenant` (its region pin is
   * checked once per request: at the route, or else at the write).
   */
  hasAdmitted(tenant: string): boolean {
    return this.admitted?.has(tenant) ?? false;
  }

  markAdmitted(tenant: string): void {
    (this.admitted ??= new Set()).add(tenant);
  }
}

// On globalThis: Next.js can evaluate this module twice (route bundles), and the scope entered by the
// HTTP layer must be the one the store guards read.
const KEY = Symbol.for("statehouse.requestScope");
const holder = globalThis as unknown as Record<symbol, AsyncLocalStorage<RequestScope> | undefined>;
const storage = (holder[KEY] ??= new AsyncLocalStorage<RequestScope>());

/** Runs `fn` (one request's handling) in a fresh scope; everything it awaits or starts shares it. */
export function inRequestScope<T>(fn: () => T): T {
  return storage.run(new RequestScope(), fn);
}

/** The current request's scope; undefined outside a request (workers, sweeps, start-up). */
export function currentRequestScope(): RequestScope | undefined {
  return storage.getStore();
}
