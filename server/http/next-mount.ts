import { getServices } from "../runtime";
import { type Api, createApi } from "./app";

const KEY = Symbol.for("statehouse.api");
const holder = globalThis as unknown as Record<symbol, Promise<Api> | undefined>;

/** The same API the custom server serves, built once per process, for the app/api catch-all mount. */
export function getApi(): Promise<Api> {
  holder[KEY] ??= getServices().then(createApi);
  return holder[KEY];
}
