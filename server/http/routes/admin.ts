import { z } from "@hono/zod-openapi";
import { SCOPES } from "../../auth/api-keys";
import { HttpError } from "../problem";
import { problems, type RouteKit } from "./kit";

const KeyInfo = z
  .object({ id: z.string(), tenant: z.string(), name: z.string().nullable(), scopes: z.array(z.enum(SCOPES)), createdAt: z.string(), revokedAt: z.string().nullable() })
  .openapi("ApiKey");

export function registerAdminRoutes({ define }: RouteKit): void {
  // POST /api/v1/admin/keys – create a key for any tenant; the key is in this answer only
  define(
    {
      method: "post", path: "/api/v1/admin/keys", summary: "Create an API key", tags: ["admin"], scope: "admin",
      body: { schema: z.object({ tenant: z.string(), scopes: z.array(z.string()).min(1), name: z.string().max(200).optional() }).openapi("CreateKeyRequest"), contentTypes: ["application/json"] },
      responses: { 201: { description: "Created; `key` is shown only here", content: { "application/json": { schema: KeyInfo.extend({ key: z.string() }).openapi("CreatedApiKey") } } }, ...problems(400, 401, 403, 415, 422, 429, 503) },
    },
    async ({ c, services, body }) => {
      const k = await services.keys.create(body);
      c.header("cache-control", "no-store");
      return c.json({ id: k.id, key: k.key, tenant: k.tenant, scopes: k.scopes, name: k.name, createdAt: k.createdAt.toISOString(), revokedAt: null }, 201);
    },
  );

  // GET /api/v1/admin/keys – list keys (never their secrets)
  define(
    {
      method: "get", path: "/api/v1/admin/keys", summary: "List API keys", tags: ["admin"], scope: "admin",
      query: z.object({ tenant: z.string().max(64).optional() }),
      responses: { 200: { description: "Keys", content: { "application/json": { schema: z.object({ keys: z.array(KeyInfo) }) } } }, ...problems(401, 403, 429, 503) },
    },
    async ({ c, services, query }) => {
      const keys = await services.keys.list(query.tenant);
      return c.json({ keys: keys.map((k) => ({ ...k, createdAt: k.createdAt.toISOString(), revokedAt: k.revokedAt?.toISOString() ?? null })) });
    },
  );

  // DELETE /api/v1/admin/keys/{id} – revoke a key
  define(
    {
      method: "delete", path: "/api/v1/admin/keys/{id}", summary: "Revoke an API key", tags: ["admin"], scope: "admin",
      params: z.object({ id: z.string().max(64).openapi({ param: { name: "id", in: "path" } }) }),
      responses: { 204: { description: "Revoked" }, ...problems(401, 403, 404, 429, 503) },
    },
    async ({ c, services, params }) => {
      if (!(await services.keys.revoke(params.id))) throw new HttpError("not_found", "no such key");
      return c.body(null, 204);
    },
  );
}
