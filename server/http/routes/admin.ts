import { z } from "@hono/zod-openapi";
import { evaluateAlerts, prometheusAlerts } from "../../telemetry/alerts";
import { assertMayGrant, isPlatformAdmin, visibleTenant, visibleTenants } from "../access";
import {
  AdminHistory,
  AdminKeyPage,
  AdminRecord,
  Alerts,
  ApiKeyList,
  CreatedApiKey,
  Outbox,
  TenantList,
} from "../admin-schemas";
import { HttpError } from "../problem";
import { json, problems, type RouteKit, reply, pathParam } from "./kit";
import { keyPageJson } from "./state";

export function registerAdminRoutes({ define }: RouteKit): void {
  // POST /api/v1/admin/keys – create a key for the caller's tenant (any tenant: platform admins); the key is in this answer only
  define(
    {
      method: "post",
      path: "/api/v1/admin/keys",
      summary: "Create an API key",
      tags: ["admin"],
      scope: "admin",
      body: {
        schema: z
          .object({
            tenant: z.string().max(64).optional().openapi({
              description: "Default: the caller's tenant. Another tenant needs platform:admin (404 otherwise)",
            }),
            scopes: z.array(z.string().max(64)).min(1).max(16).openapi({
              description: "Only scopes the caller holds (platform:admin only from a platform admin; 403 otherwise)",
            }),
            name: z.string().max(200).optional(),
          })
          .openapi("CreateKeyRequest"),
        contentTypes: ["application/json"],
      },
      responses: {
        201: json("Created; `key` is shown only here", CreatedApiKey),
        ...problems(400, 401, 403, 404, 415, 422, 429, 503),
      },
    },
    async ({ c, services, principal, body }) => {
      const tenant = visibleTenant(principal, body.tenant ?? principal.tenant);
      assertMayGrant(principal, body.scopes);
      const k = await services.keys.create({ ...body, tenant });
      c.header("cache-control", "no-store");
      return reply(
        c,
        CreatedApiKey,
        {
          id: k.id,
          key: k.key,
          tenant: k.tenant,
          scopes: k.scopes,
          name: k.name,
          createdAt: k.createdAt.toISOString(),
          revokedAt: null,
        },
        201,
      );
    },
  );

  // GET /api/v1/admin/keys – list keys (never their secrets): the caller's tenant's (every tenant's: platform admins)
  define(
    {
      method: "get",
      path: "/api/v1/admin/keys",
      summary: "List API keys",
      tags: ["admin"],
      scope: "admin",
      query: z.object({ tenant: z.string().max(64).optional() }),
      responses: { 200: json("Keys", ApiKeyList), ...problems(401, 403, 404, 429, 503) },
    },
    async ({ c, services, principal, query }) => {
      const keys = await services.keys.list(
        query.tenant !== undefined ? visibleTenant(principal, query.tenant) : visibleTenants(principal),
      );
      return reply(c, ApiKeyList, {
        keys: keys.map((k) => ({
          ...k,
          createdAt: k.createdAt.toISOString(),
          revokedAt: k.revokedAt?.toISOString() ?? null,
        })),
      });
    },
  );

  // DELETE /api/v1/admin/keys/{id} – revoke a key of the caller's tenant (any tenant's: platform admins)
  define(
    {
      method: "delete",
      path: "/api/v1/admin/keys/{id}",
      summary: "Revoke an API key",
      tags: ["admin"],
      scope: "admin",
      params: z.object({
        id: pathParam("id", { max: 64 }),
      }),
      responses: { 204: { description: "Revoked" }, ...problems(401, 403, 404, 429, 503) },
    },
    async ({ c, services, principal, params }) => {
      const key = await services.keys.get(params.id);
      // Another tenant's key is as absent as an unknown one.
      if (!key || (key.tenant !== principal.tenant && !isPlatformAdmin(principal)))
        throw new HttpError("not_found", `no key ${params.id.slice(0, 64)}`);
      assertMayGrant(principal, key.scopes);
      if (!(await services.keys.revoke(params.id)))
        throw new HttpError("not_found", `no key ${params.id.slice(0, 64)}`);
      return c.body(null, 204);
    },
  );
}

const TenantNs = z.object({
  tenant: pathParam("tenant", { max: 64 }),
  ns: pathParam("ns", { max: 64 }),
});
const TenantNsKey = TenantNs.extend({ key: pathParam("key") });

/**
 * What operators browse in the dashboard: a tenant's state, read-only, with history and values. A tenant
 * admin sees its own tenant only (404 for any other); a platform admin sees every tenant.
 */
export function registerAdminStateRoutes({ define }: RouteKit): void {
  // GET /api/v1/admin/tenants – tenants that have state or keys (a tenant admin: its own only)
  define(
    {
      method: "get",
      path: "/api/v1/admin/tenants",
      summary: "Tenants with state or keys",
      tags: ["admin"],
      scope: "admin",
      responses: { 200: json("Tenants", TenantList), ...problems(401, 403, 429, 503) },
    },
    async ({ c, services, principal }) =>
      reply(c, TenantList, { tenants: isPlatformAdmin(principal) ? await services.tenants() : [principal.tenant] }),
  );

  // GET /api/v1/admin/state/{tenant}/{ns} – any tenant's keys
  define(
    {
      method: "get",
      path: "/api/v1/admin/state/{tenant}/{ns}",
      summary: "List a tenant's keys",
      tags: ["admin"],
      scope: "admin",
      params: TenantNs,
      query: z.object({
        prefix: z.string().max(512).optional(),
        limit: z.coerce.number().int().min(1).max(1000).optional(),
        cursor: z.string().max(2048).optional(),
      }),
      responses: { 200: json("A page of keys", AdminKeyPage), ...problems(400, 401, 403, 404, 422, 429, 503) },
    },
    async ({ c, services, principal, params, query }) => {
      const tenant = visibleTenant(principal, params.tenant);
      const page = await services.state.list(tenant, params.ns, query);
      return reply(c, AdminKeyPage, { tenant, ...keyPageJson(params.ns, page) });
    },
  );

  // GET /api/v1/admin/state/{tenant}/{ns}/{key} – one record with its tier, TTL and size against the namespace's limits
  define(
    {
      method: "get",
      path: "/api/v1/admin/state/{tenant}/{ns}/{key}",
      summary: "Inspect a record",
      tags: ["admin"],
      scope: "admin",
      params: TenantNsKey,
      responses: { 200: json("The record", AdminRecord), ...problems(401, 403, 404, 409, 422, 429, 503) },
    },
    async ({ c, services, principal, params }) => {
      const tenant = visibleTenant(principal, params.tenant);
      const r = await services.state.getOrThrow({ tenant, namespace: params.ns, key: params.key });
      const policy = services.state.policy(params.ns);
      return reply(c, AdminRecord, {
        tenant,
        namespace: r.namespace,
        key: r.key,
        version: r.version,
        value: r.value,
        schemaVersion: r.schemaVersion,
        tier: r.tier ?? null,
        createdAt: r.createdAt.toISOString(),
        updatedAt: r.updatedAt.toISOString(),
        expiresAt: r.expiresAt?.toISOString() ?? null,
        ttlSeconds: r.expiresAt ? Math.max(0, Math.round((r.expiresAt.getTime() - Date.now()) / 1000)) : null,
        sizeBytes: r.sizeBytes,
        limits: policy.maxBytes,
      });
    },
  );

  // GET /api/v1/admin/state/{tenant}/{ns}/{key}/history – versions with their values and diffs (time travel)
  define(
    {
      method: "get",
      path: "/api/v1/admin/state/{tenant}/{ns}/{key}/history",
      summary: "A record's versions with values",
      tags: ["admin"],
      scope: "admin",
      params: TenantNsKey,
      query: z.object({
        limit: z.coerce.number().int().min(1).max(1000).optional(),
        before: z.coerce.number().int().min(1).max(2_147_483_647).optional(),
      }),
      responses: { 200: json("Versions, newest first", AdminHistory), ...problems(401, 403, 404, 422, 429, 503) },
    },
    async ({ c, services, principal, params, query }) => {
      const versions = await services.state.history(
        { tenant: visibleTenant(principal, params.tenant), namespace: params.ns, key: params.key },
        { limit: query.limit ?? 50, before: query.before },
      );
      return reply(c, AdminHistory, {
        versions: versions.map((v) => ({
          version: v.version,
          at: v.at.toISOString(),
          actor: v.actor,
          operation: v.operation,
          value: v.value,
          patch: v.patch,
          sizeBytes: v.sizeBytes,
        })),
      });
    },
  );

  // GET /api/v1/admin/outbox – pending events, lag, the newest events and where they go (a tenant admin: its tenant's events)
  define(
    {
      method: "get",
      path: "/api/v1/admin/outbox",
      summary: "The outbox",
      tags: ["admin"],
      scope: "admin",
      responses: {
        200: json(
          "Pending count, lag, destinations and the newest events (of the caller's tenant unless platform admin)",
          Outbox,
        ),
        ...problems(401, 403, 429, 503),
      },
    },
    async ({ c, services, principal }) => {
      const tenant = visibleTenants(principal);
      const [stats, recent] = await Promise.all([services.outbox(tenant), services.outboxRecent(20, tenant)]);
      return reply(c, Outbox, {
        pending: stats.pending,
        lagSeconds: stats.lagSeconds,
        publishers: recent.publishers,
        events: recent.events.map((e) => ({
          id: e.id,
          tenant: e.tenant,
          namespace: e.namespace,
          key: e.key,
          version: e.version,
          operation: e.operation,
          createdAt: e.createdAt.toISOString(),
          publishedAt: e.publishedAt?.toISOString() ?? null,
        })),
      });
    },
  );

  // GET /api/v1/admin/alerts – what would page: the rules evaluated in-process, or Prometheus' alerts.
  // platform:admin: the rules watch the whole deployment (every tenant's traffic and storage).
  define(
    {
      method: "get",
      path: "/api/v1/admin/alerts",
      summary: "Alert states",
      tags: ["admin"],
      scope: "platform:admin",
      responses: { 200: json("Each alert with its state", Alerts), ...problems(401, 403, 429) },
    },
    async ({ c, services }) => {
      if (services.config.PROMETHEUS_URL) {
        try {
          const alerts = await prometheusAlerts(services.config.PROMETHEUS_URL);
          return reply(c, Alerts, { source: "prometheus", alerts });
        } catch {
          // Prometheus unreachable: fall back to the in-process evaluation below, and say so.
        }
      }
      const ready = await services.readiness();
      const outbox = await services.outbox().catch(() => null);
      const alerts = evaluateAlerts({
        series: services.telemetry.timeSeries,
        circuits: ready.stores.map((s) => ({ store: s.backend, tier: s.tier, state: s.circuit })),
        stores: ready.stores.map((s) => ({ store: s.backend, tier: s.tier, up: s.status === "up" })),
        outboxLagSeconds: outbox?.lagSeconds ?? null,
        quotas: new Map(
          services.namespaces
            .list()
            .filter((p) => p.storageQuotaBytes)
            .map((p) => [p.name, p.storageQuotaBytes!]),
        ),
      });
      return reply(c, Alerts, { source: "in-process", alerts });
    },
  );
}
