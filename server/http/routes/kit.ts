import { z } from "@hono/zod-openapi";
import type { RouteConfig } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { z as zod } from "zod";
import type { Handled, RouteSpec } from "../route";

type AnyObject = zod.ZodObject<zod.ZodRawShape>;
type Infer<T> = T extends zod.ZodType ? zod.infer<T> : undefined;

/** What route modules receive: `define` bound to the app, its route table and the services. */
export interface RouteKit {
  define<P extends AnyObject | undefined, Q extends AnyObject | undefined, B extends zod.ZodType | undefined>(
    spec: RouteSpec<P, Q, B>,
    handler: (h: Handled<Infer<P>, Infer<Q>, Infer<B>>) => Promise<Response>,
  ): void;
}

export const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    code: z.string().openapi({ description: "Stable machine-readable error code" }),
    detail: z.string(),
    instance: z.string().optional(),
    traceId: z.string().optional(),
    currentVersion: z
      .number()
      .int()
      .nullable()
      .optional()
      .openapi({ description: "On 412: the record's current version (null when absent)" }),
  })
  .passthrough()
  .openapi("Problem");

const DESCRIPTIONS: Record<number, string> = {
  400: "Malformed request",
  401: "No or invalid API key",
  403:
    "The key lacks the scope, the namespace is owned by a domain (written only through its routes, read only with " +
    "its scope), or the tenant is pinned to another region (residency_violation)",
  404: "Not found (also for other tenants' records)",
  405: "Method not allowed",
  409:
    "Idempotency-Key reused with a different request or still in progress (idempotency_*), or the stored record " +
    "cannot be upgraded to the namespace's schema version (upgrade_failed)",
  412: "Version mismatch (If-Match / If-None-Match)",
  413: "Over the namespace's size limit, the body limit, or the tenant's storage quota (storage_quota_exceeded)",
  415: "Unsupported content type",
  422: "Invalid value",
  428: "The namespace requires If-Match or If-None-Match",
  429: "Rate limited or over the daily operations quota; see Retry-After",
  503: "A store is unavailable; see Retry-After",
};

/** The documented problem+json answers of a route. */
export function problems(...statuses: number[]): RouteConfig["responses"] {
  return Object.fromEntries(
    statuses.map((s) => [
      s,
      { description: DESCRIPTIONS[s] ?? "Error", content: { "application/problem+json": { schema: Problem } } },
    ]),
  );
}

/** A value as read-only as the services hand it out (their arrays are `readonly`); any JSON of that shape fits. */
type Readable<T> = T extends readonly (infer U)[]
  ? readonly Readable<U>[]
  : T extends object
    ? { readonly [K in keyof T]: Readable<T[K]> }
    : T;

/**
 * A JSON answer whose body the compiler checks against the schema the route documents, so the OpenAPI
 * document and the typed client say what the handler really sends. (No runtime parse: the check is the
 * type, and a parse would cost every call and could strip what the schema has not learnt yet.)
 */
export function reply<S extends zod.ZodType>(
  c: Context,
  _schema: S,
  body: Readable<zod.input<S>>,
  status: ContentfulStatusCode = 200,
): Response {
  return c.json(body as never, status);
}

/** A documented JSON answer: `200: json("The run", Run)`. */
export function json(description: string, schema: zod.ZodType) {
  return { description, content: { "application/json": { schema } } };
}

/** A path parameter: a string, at most `max` characters where given, documented with an example. */
export function pathParam(name: string, options: { max?: number; example?: string } = {}) {
  const value = options.max === undefined ? z.string() : z.string().max(options.max);
  return value.openapi({
    param: { name, in: "path" },
    ...(options.example === undefined ? {} : { example: options.example }),
  });
}
