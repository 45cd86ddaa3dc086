import createClient, { type Client } from "openapi-fetch";
import type { paths } from "./schema";

export type { paths } from "./schema";
export type StatehouseClient = Client<paths>;

/**
 * A typed client for the Statehouse API, derived from its OpenAPI document: paths, parameters, bodies
 * and responses are checked at compile time.
 *
 * ```ts
 * const sh = createStatehouseClient({ baseUrl: "http://localhost:3000", apiKey: process.env.STATEHOUSE_KEY! });
 * const { data, response } = await sh.PUT("/api/v1/state/{ns}/{key}", {
 *   params: { path: { ns: "kv", key: "user-42" }, header: { "if-match": '"3"' } },
 *   body: { value: { plan: "pro" } },
 * });
 * ```
 */
export function createStatehouseClient(options: {
  baseUrl: string;
  apiKey?: string;
  fetch?: typeof fetch;
}): StatehouseClient {
  return createClient<paths>({
    baseUrl: options.baseUrl,
    headers: options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {},
    fetch: options.fetch,
  });
}
