import { loadConfig } from "../config";
import { buildServices } from "../container";
import { type Api, createApi } from "./app";

// Next.js may evaluate this module more than once (instrumentation and route bundles): the one
// process-wide API lives on globalThis.
const KEY = Symbol.for("statehouse.api");
const holder = globalThis as unknown as Record<symbol, Promise<Api> | undefined>;

/** The same API the custom server serves, built once per process, for the app/api catch-all mount. */
export function getApi(): Promise<Api> {
  holder[KEY] ??= buildServices(loadConfig()).then(createApi);
  return holder[KEY];
}
