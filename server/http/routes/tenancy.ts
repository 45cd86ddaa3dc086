import { z } from "@hono/zod-openapi";
import { isPlatformAdmin, visibleTenant, visibleTenants } from "../access";
import { Capacity } from "../admin-schemas";
import { json, problems, type RouteKit, reply, pathParam } from "./kit";

const Tenant = z.object({
  tenant: pathParam("tenant", { max: 64, example: "acme" }),
});
const Usage = z
  .object({
    tenant: z.string(),
    day: z.string().openapi({ description: "The UTC day the operations count belongs to" }),
    resetsAt: z.string(),
    operations: z.object({ used: z.number().int(), limit: z.number().int().nullable() }),
    bytesStored: z.object({ used: z.number().int(), limit: z.number().int().nullable() }),
    region: z.string().nullable().openapi({ description: "The region the tenant is pinned to (null: any)" }),
    serverRegion: z.string(),
  })
  .openapi("QuotaUsage");
const PolicyBody = z
  .object({
    operationsPerDay: z
      .number()
      .int()
      .min(0)
      .max(2_147_483_647)
      .nullable()
      .optional()
      .openapi({ description: "Operations per UTC day; null = unlimited" }),
    bytesStored: z
      .number()
      .int()
      .min(0)
      .max(Number.MAX_SAFE_INTEGER)
      .nullable()
      .optional()
      .openapi({ description: "Live bytes in durable namespaces; null = unlimited" }),
    region: z
      .string()
      .max(32)
      .nullable()
      .optional()
      .openapi({ description: "Pin to a region label; null = any region" }),
  })
  .strict()
  .openapi("TenantPolicyRequest");
const Audit = z
  .object({
    id: z.string(),
    at: z.string(),
    tenant: z.string(),
    tenantRegion: z.string(),
    serverRegion: z.string(),
    operation: z.string(),
    namespace: z.string().nullable(),
    key: z.string().nullable(),
    actor: z.string().nullable(),
  })
  .openapi("ResidencyAuditEntry");
const QuotaList = z.object({ serverRegion: z.string(), tenants: z.array(Usage) }).openapi("QuotaList");
const Residency = z
  .object({
    serverRegion: z.string(),
    pins: z.array(z.object({ tenant: z.string(), region: z.string() })),
    storedIn: z.array(
      z.object({
        tenant: z.string(),
        region: z.string(),
        firstWriteAt: z.string(),
        lastWriteAt: z.string(),
      }),
    ),
    audit: z.array(Audit),
  })
  .openapi("Residency");
const RecordRegion = z
  .object({
    tenant: z.string(),
    namespace: z.string(),
    key: z.string(),
    version: z.number().int(),
    region: z.string(),
    tenantPinnedTo: z.string().nullable(),
  })
  .openapi("RecordRegion");

/**
 * Tenant quotas and residency (usage for a key's own tenant; limits, pins, audit for admins: a tenant
 * admin reads its own tenant's, only a platform admin sets them or sees other tenants), and capacity.
 */
export function registerTenancyRoutes({ define }: RouteKit): void {
  // GET /api/v1/quota – the calling key's tenant: today's operations and stored bytes against its quotas
  define(
    {
      method: "get",
      path: "/api/v1/quota",
      summary: "Your tenant's quota usage",
      tags: ["quotas"],
      scope: "state:read",
      responses: { 200: json("Usage and limits", Usage), ...problems(401, 403, 429, 503) },
    },
    async ({ c, services, principal }) => reply(c, Usage, await services.tenantPolicies.usage(principal.tenant)),
  );

  // GET /api/v1/admin/quotas – every tenant with state, keys or a policy: usage and limits (a tenant admin: its own)
  define(
    {
      method: "get",
      path: "/api/v1/admin/quotas",
      summary: "Quota usage of every tenant",
      tags: ["admin", "quotas"],
      scope: "admin",
      responses: {
        200: json("Usage per tenant (the caller's tenant only unless platform admin)", QuotaList),
        ...problems(401, 403, 429, 503),
      },
    },
    async ({ c, services, principal }) => {
      if (!isPlatformAdmin(principal))
        return reply(c, QuotaList, {
          serverRegion: services.tenantPolicies.serverRegion,
          tenants: [await services.tenantPolicies.usage(principal.tenant)],
        });
      const names = new Set([
        ...(await services.tenants()),
        ...(await services.tenantPolicies.list()).map((p) => p.tenant),
      ]);
      const tenants = await Promise.all(
        [...names]
          .sort()
          .slice(0, 500)
          .map((t) => services.tenantPolicies.usage(t)),
      );
      return reply(c, QuotaList, { serverRegion: services.tenantPolicies.serverRegion, tenants });
    },
  );

  // GET /api/v1/admin/tenants/{tenant}/policy – a tenant's quotas, region pin and usage
  define(
    {
      method: "get",
      path: "/api/v1/admin/tenants/{tenant}/policy",
      summary: "A tenant's quotas, pin and usage",
      tags: ["admin", "quotas"],
      scope: "admin",
      params: Tenant,
      responses: { 200: json("Usage and limits", Usage), ...problems(401, 403, 404, 429, 503) },
    },
    async ({ c, services, principal, params }) =>
      reply(c, Usage, await services.tenantPolicies.usage(visibleTenant(principal, params.tenant))),
  );

  // PUT /api/v1/admin/tenants/{tenant}/policy – set quotas and/or the region pin (fields left out keep their value).
  // platform:admin, whatever the tenant: a tenant admin may not raise its own limits (403 for every tenant, so it learns nothing).
  define(
    {
      method: "put",
      path: "/api/v1/admin/tenants/{tenant}/policy",
      summary: "Set a tenant's quotas and region pin",
      tags: ["admin", "quotas"],
      scope: "platform:admin",
      params: Tenant,
      body: { schema: PolicyBody, contentTypes: ["application/json"] },
      responses: { 200: json("The policy now, with usage", Usage), ...problems(400, 401, 403, 415, 422, 429, 503) },
    },
    async ({ c, services, params, body }) => {
      await services.tenantPolicies.set(params.tenant, body);
      return reply(c, Usage, await services.tenantPolicies.usage(params.tenant));
    },
  );

  // GET /api/v1/admin/residency – this server's region, pins, where each tenant's state was written, refused writes (a
  // tenant admin: its own)
  define(
    {
      method: "get",
      path: "/api/v1/admin/residency",
      summary: "Regions of tenants' state and refused writes",
      tags: ["admin", "residency"],
      scope: "admin",
      query: z.object({
        tenant: z.string().max(64).optional(),
        limit: z.coerce.number().int().min(1).max(1000).optional(),
      }),
      responses: {
        200: json(
          "`storedIn`: each region under which a tenant's state was written (every record of this deployment is " +
            "stored in `serverRegion`); `audit`: refused writes, newest first",
          Residency,
        ),
        ...problems(400, 401, 403, 404, 429, 503),
      },
    },
    async ({ c, services, principal, query }) => {
      const tenant = query.tenant !== undefined ? visibleTenant(principal, query.tenant) : visibleTenants(principal);
      const [policies, storedIn, audit] = await Promise.all([
        services.tenantPolicies.list(),
        services.tenantPolicies.regions(tenant),
        services.tenantPolicies.audit({ tenant, limit: query.limit }),
      ]);
      const pins = policies
        .filter((p) => p.region !== null && (!tenant || p.tenant === tenant))
        .map((p) => ({ tenant: p.tenant, region: p.region! }));
      return reply(c, Residency, { serverRegion: services.tenantPolicies.serverRegion, pins, storedIn, audit });
    },
  );

  // GET /api/v1/admin/residency/{tenant}/{ns}/{key} – the region a stored record is in
  define(
    {
      method: "get",
      path: "/api/v1/admin/residency/{tenant}/{ns}/{key}",
      summary: "The region of a stored record",
      tags: ["admin", "residency"],
      scope: "admin",
      params: Tenant.extend({
        ns: pathParam("ns", { max: 64 }),
        key: pathParam("key"),
      }),
      responses: { 200: json("Where the record is stored", RecordRegion), ...problems(401, 403, 404, 422, 429, 503) },
    },
    async ({ c, services, principal, params }) => {
      const record = await services.state.getOrThrow(
        { tenant: visibleTenant(principal, params.tenant), namespace: params.ns, key: params.key },
        { consistency: "strong" },
      );
      const policy = await services.tenantPolicies.get(params.tenant);
      // Every store of a deployment is in its region, and writes for tenants pinned elsewhere never reach them.
      return reply(c, RecordRegion, {
        tenant: params.tenant,
        namespace: params.ns,
        key: params.key,
        version: record.version,
        region: services.tenantPolicies.serverRegion,
        tenantPinnedTo: policy.region,
      });
    },
  );

  // GET /api/v1/admin/capacity – active sessions per agent, recent samples and the one-hour forecast.
  // platform:admin: the counts are the whole deployment's, every tenant's sessions together.
  define(
    {
      method: "get",
      path: "/api/v1/admin/capacity",
      summary: "Active sessions and their forecast",
      tags: ["admin"],
      scope: "platform:admin",
      responses: {
        200: json(
          "Per agent: active sessions now, samples, the forecast at now + horizon and the trend per hour",
          Capacity,
        ),
        ...problems(401, 403, 429),
      },
    },
    async ({ c, services }) => reply(c, Capacity, services.capacity.snapshot()),
  );
}
