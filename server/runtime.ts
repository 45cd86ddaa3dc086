import { loadConfig } from "./config";
import { buildServices, type Services } from "./container";

// The process's services, shared with the Next.js pages in the same process. Next may evaluate this
// module more than once (instrumentation and route bundles), so the one instance lives on globalThis.
const KEY = Symbol.for("statehouse.services");
const holder = globalThis as unknown as Record<symbol, Promise<Services> | undefined>;

/** Called by server/main.ts once it has built the services. */
export function provideServices(services: Services): void {
  holder[KEY] = Promise.resolve(services);
}

/** The services: those server/main.ts built, or (under `next start`) built here once from the environment. */
export function getServices(): Promise<Services> {
  holder[KEY] ??= buildServices(loadConfig());
  return holder[KEY];
}
