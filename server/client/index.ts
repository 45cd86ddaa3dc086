// The typed client: openapi-fetch over the types generated from the OpenAPI document (schema.d.ts).
// The dashboard uses it too, so this file and what it imports must stay fit for a browser bundle.
import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./schema";

export type { components, paths } from "./schema";
export type StatehouseClient = Client<paths>;
/** The named schemas of the API's answers and requests, e.g. `Schemas["AdminMetrics"]`. */
export type Schemas = components["schemas"];
// The two answers outside the versioned API that the dashboard reads (not in the OpenAPI document).
export type { AdminSessionBody, ReadyReportBody } from "../http/admin-schemas";

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
 *
 * In a browser on the same origin (the dashboard): `baseUrl: ""`, no `apiKey`, and `credentials:
 * "same-origin"` so the session cookie goes along.
 */
export function createStatehouseClient(options: {
  baseUrl: string;
  apiKey?: string;
  fetch?: typeof fetch;
  credentials?: RequestCredentials;
  cache?: RequestCache;
}): StatehouseClient {
  return createClient<paths>({
    baseUrl: options.baseUrl,
    headers: options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {},
    fetch: options.fetch,
    ...(options.credentials ? { credentials: options.credentials } : {}),
    ...(options.cache ? { cache: options.cache } : {}),
  });
}
