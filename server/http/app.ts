import { errorName } from "../logger";
import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import type { MiddlewareHandler } from "hono";
import type { ApiServices as Services } from "./services";
import { type AdminSession, readCookie, SESSION_COOKIE } from "../auth/admin-sessions";
import { HttpError, problemResponse } from "./problem";
import { inRequestScope } from "../state/request-scope";
import { PrometheusSerializer } from "@opentelemetry/exporter-prometheus";
import { isSpanContextValid, trace } from "@opentelemetry/api";
import { safeEqual } from "../auth/safe-equal";
import { checkKey, refuseCrossSite } from "./auth-failures";
import { parseJsonBody } from "./json-body";
import { ADMIN_BODY_BYTES, requestLimits } from "./limits";
import { grants } from "./access";
import type { AdminSessionBody, ReadyReportBody } from "./admin-schemas";
import { defineRoute, type ServedRoute } from "./route";
import { registerAdminRoutes, registerAdminStateRoutes } from "./routes/admin";
import { registerAgentRoutes, registerStatelessAgentRoutes } from "./routes/agents";
import { registerAgentDefinitionRoutes } from "./routes/agent-definitions";
import { registerAdminAgentRoutes } from "./routes/admin-agents";
import { registerAdminMemoryRoutes, registerMemoryRoutes } from "./routes/memories";
import { registerMcpRoutes } from "./routes/mcp";
import { registerLangGraphStoreRoutes } from "./routes/langgraph-store";
import { OPENAI_BASE, registerOpenAIRoutes } from "./routes/openai";
import { openaiErrorResponse } from "./openai-errors";
import { registerOpenAIStateRoutes } from "./routes/openai-responses";
import { registerTenancyRoutes } from "./routes/tenancy";
import { registerTelemetryRoutes } from "./routes/telemetry";
import type { RouteKit } from "./routes/kit";
import { registerStateRoutes } from "./routes/state";
import { registerAdminWorkflowRoutes, registerWorkflowRoutes } from "./routes/workflows";

export const OPENAPI_PATH = "/api/v1/openapi.json";

export interface Api {
  /**
   * The fetch handler: Request in, Response out. Mounted by server/main.ts, which passes
   * @hono/node-server's `{ incoming, outgoing }` as `env` (the socket's address, for the failed-auth
   * throttle), and by app/api/[...path]/route.ts, which has no socket to pass.
   */
  fetch: (request: Request, env?: unknown) => Response | Promise<Response>;
  /** The routes the router serves (method, OpenAPI path), for the document-vs-router test. */
  routes: readonly ServedRoute[];
  openapi(): Record<string, unknown>;
}

/**
 * The HTTP API, defined once as Web-standard fetch handlers. Every /api/v1 route is declared with
 * defineRoute (auth, rate limit, zod parsing, problem+json errors) and documented from the same schemas.
 */
export function createApi(services: Services): Api {
  const app = new OpenAPIHono();
  const served: ServedRoute[] = [];

  app.use(
    "/api/v1/*",
    onlyWithBody(
      bodyLimit({
        maxSize: services.config.STATEHOUSE_MAX_BODY_BYTES,
        onError: () =>
          problemResponse(
            new HttpError(
              "body_too_large",
              `request bodies are limited to ${services.config.STATEHOUSE_MAX_BODY_BYTES} bytes`,
              { limitBytes: services.config.STATEHOUSE_MAX_BODY_BYTES },
            ),
          ),
      }),
    ),
  );

  app.use(
    "/api/admin/*",
    onlyWithBody(
      bodyLimit({
        maxSize: ADMIN_BODY_BYTES,
        onError: () =>
          problemResponse(
            new HttpError("body_too_large", `request bodies here are limited to ${ADMIN_BODY_BYTES} bytes`, {
              limitBytes: ADMIN_BODY_BYTES,
            }),
          ),
      }),
    ),
  );

  // GET /api/health – liveness: the process answers; no store is consulted.
  app.get("/api/health", (c) => c.json({ status: "ok" }));
  served.push({ method: "GET", path: "/api/health", pattern: /^\/api\/health$/ });

  // GET /api/ready – each store's backend, status and circuit; 503 when the source of truth is down.
  app.get("/api/ready", async (c) => {
    const report = await services.readiness();
    c.header("cache-control", "no-store");
    return c.json(report satisfies ReadyReportBody, report.ready ? 200 : 503);
  });
  served.push({ method: "GET", path: "/api/ready", pattern: /^\/api\/ready$/ });

  // GET /metrics – Prometheus text exposition from the app's own port (bearer METRICS_TOKEN when set)
  const serializer = new PrometheusSerializer();
  const metricsToken = services.config.METRICS_TOKEN;
  app.get("/metrics", async (c) => {
    if (metricsToken) {
      const given = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "")?.[1] ?? "";
      if (!safeEqual(given, metricsToken)) {
        return problemResponse(
          new HttpError(
            "unauthorized",
            "/metrics needs 'Authorization: Bearer <METRICS_TOKEN>'",
            {},
            { "www-authenticate": 'Bearer realm="metrics"' },
          ),
        );
      }
    }
    const exporter = services.telemetry.prometheus;
    const text = exporter ? serializer.serialize((await exporter.collect()).resourceMetrics) : "";
    return c.body(text, 200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
      "cache-control": "no-store",
    });
  });
  served.push({ method: "GET", path: "/metrics", pattern: /^\/metrics$/ });

  // The dashboard's login: an admin key in, a signed httpOnly SameSite=Strict session cookie out.
  // Only same-origin JSON (a cross-site form or text/plain fetch could otherwise log a victim's browser
  // into the attacker's account: login CSRF), and failed keys count toward the per-address throttle.
  const secure = (url: string, proto?: string) => proto === "https" || url.startsWith("https:");
  // POST /api/admin/session – log in with an admin key
  app.post("/api/admin/session", async (c) => {
    try {
      refuseCrossSite(c, services);
      if ((c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase() !== "application/json") {
        throw new HttpError("unsupported_media_type", 'send the login as application/json: {"key": "..."}', {
          accepted: ["application/json"],
        });
      }
      // Checked like every other JSON body: 400 malformed, or too_deep before anything recurses into it.
      const body = parseJsonBody(await c.req.text()) as { key?: unknown } | null;
      const key = typeof body?.key === "string" && body.key.length <= 512 ? body.key.trim() : undefined;
      const principal = await checkKey(c, services, key, () => new HttpError("unauthorized", "that key is not valid"));
      if (!grants(principal.scopes, "admin"))
        throw new HttpError("forbidden", "the dashboard needs a key with the admin scope", { requiredScope: "admin" });
      const { value, session } = services.sessions.issue(principal.keyId, principal.tenant);
      c.header("set-cookie", services.sessions.cookie(value, secure(c.req.url, c.req.header("x-forwarded-proto"))));
      c.header("cache-control", "no-store");
      return c.json(sessionBody(session));
    } catch (err) {
      return problemResponse(err);
    }
  });
  // GET /api/admin/session – the current session (and its CSRF token for mutations)
  app.get("/api/admin/session", async (c) => {
    const session = await services.session(readCookie(c.req.header("cookie"), SESSION_COOKIE));
    if (!session) return problemResponse(new HttpError("unauthorized", "not logged in"));
    // The cookie's signature outlives its key: a revoked key ends the session (as it does for the API).
    let principal: Awaited<ReturnType<typeof services.keys.principalById>>;
    try {
      principal = await services.keys.principalById(session.keyId);
    } catch (err) {
      return problemResponse(err);
    }
    if (!principal)
      return problemResponse(new HttpError("unauthorized", "the session's key was revoked; log in again"));
    c.header("cache-control", "no-store");
    return c.json(sessionBody(session));
  });
  // DELETE /api/admin/session – log out (CSRF-checked)
  app.delete("/api/admin/session", async (c) => {
    const session = await services.session(readCookie(c.req.header("cookie"), SESSION_COOKIE));
    if (session && !safeEqual(c.req.header("x-csrf-token") ?? "", session.csrf))
      return problemResponse(new HttpError("forbidden", "logging out needs the session's X-CSRF-Token header"));
    // Ends the session everywhere, not just in this browser: a copied cookie stops working too.
    if (session)
      await services.sessionDenylist.revoke(session).catch((err: unknown) =>
        services.log.warn("a logout could not be recorded in the session denylist; the cookie still works elsewhere", {
          error: errorName(err),
        }),
      );
    c.header("set-cookie", services.sessions.clearCookie(secure(c.req.url, c.req.header("x-forwarded-proto"))));
    return c.body(null, 204);
  });
  for (const method of ["GET", "POST", "DELETE"])
    served.push({ method, path: "/api/admin/session", pattern: /^\/api\/admin\/session$/ });

  const kit: RouteKit = { define: (spec, handler) => defineRoute(app, served, services, spec, handler) };
  registerStateRoutes(kit);
  registerAgentDefinitionRoutes(kit);
  registerAgentRoutes(kit);
  registerAdminRoutes(kit);
  registerAdminStateRoutes(kit);
  registerAdminAgentRoutes(kit);
  registerTelemetryRoutes(kit);
  registerStatelessAgentRoutes(kit);
  registerTenancyRoutes(kit);
  registerWorkflowRoutes(kit);
  registerOpenAIRoutes(kit);
  registerOpenAIStateRoutes(kit);
  registerMemoryRoutes(kit);
  registerAdminMemoryRoutes(kit);
  registerMcpRoutes(kit);
  registerLangGraphStoreRoutes(kit);
  registerAdminWorkflowRoutes(kit);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    description: "An API key: shk_<id>_<secret>",
  });
  const document = () =>
    app.getOpenAPI31Document({
      openapi: "3.1.0",
      info: {
        title: "Statehouse API",
        version: "1.0.0",
        description:
          "Versioned, tiered, observable state for AI agents. Every request limit (body size, JSON nesting, JSON " +
          "Patch operations and work, list sizes, message lengths) is listed in `x-statehouse-limits` with the " +
          "status and problem code past it.",
        // One row per limit, from server/http/limits.ts (the README's Limits table is rendered from it too).
        "x-statehouse-limits": requestLimits(services.config),
      },
      servers: [{ url: "/" }],
    });
  let cached: Record<string, unknown> | undefined;
  const openapi = () => (cached ??= document() as unknown as Record<string, unknown>);

  // GET /api/v1/openapi.json – this API's OpenAPI 3.1 document, generated from the route schemas
  app.get(OPENAPI_PATH, (c) => c.json(openapi()));
  served.push({ method: "GET", path: OPENAPI_PATH, pattern: new RegExp(`^${OPENAPI_PATH.replace(/\./g, "\\.")}$`) });

  app.notFound((c) => {
    const path = new URL(c.req.url).pathname;
    const allowed = served.filter((r) => r.pattern.test(path)).map((r) => r.method);
    // The OpenAI door answers in OpenAI's error shape, so its client raises NotFoundError there too.
    const answer = path.startsWith(`${OPENAI_BASE}/`) ? openaiErrorResponse : problemResponse;
    if (allowed.length) {
      return answer(
        new HttpError(
          "method_not_allowed",
          `${c.req.method} is not allowed here`,
          { allowed },
          { allow: [...new Set(allowed)].join(", ") },
        ),
      );
    }
    return answer(new HttpError("not_found", "no such route"), { instance: path });
  });
  app.onError((err, c) => {
    const context = trace.getActiveSpan()?.spanContext();
    const traceId = context && isSpanContextValid(context) ? context.traceId : undefined;
    services.log.error("unhandled error in request", { error: err.name, path: new URL(c.req.url).pathname, traceId });
    return problemResponse(err, { traceId });
  });

  // Each request in its own scope: a store that timed out once in a request is not waited on again in it.
  return {
    fetch: (request, env) => inRequestScope(() => app.fetch(request, env as object | undefined)),
    routes: served,
    openapi,
  };
}

/** What login and the session check answer: the session's key, tenant, CSRF token and expiry. */
function sessionBody(session: AdminSession): AdminSessionBody {
  return {
    keyId: session.keyId,
    tenant: session.tenant,
    csrfToken: session.csrf,
    expiresAt: new Date(session.expiresAt).toISOString(),
  };
}

/**
 * The OpenAPI document without a running process (for generating the typed client). The routes are
 * registered against services that refuse to be used: building the document never serves a request.
 */
export function buildOpenApiDocument(config: Services["config"]): Record<string, unknown> {
  const unusable = new Proxy({ config } as Services, {
    get(target, prop) {
      if (prop === "config") return target.config;
      throw new Error(`services.${String(prop)} is not available while generating the OpenAPI document`);
    },
  });
  return createApi(unusable).openapi();
}

/**
 * Runs a body check only on requests that carry a body. hono's bodyLimit reads `request.body`, and on
 * Node that makes @hono/node-server build a full WHATWG Request (headers, abort signal) for every call,
 * GETs included: 8 % of a state GET's CPU. A request with neither Content-Length nor Transfer-Encoding
 * has no body (RFC 9112, section 6.3), so it has nothing to limit.
 */
function onlyWithBody(check: MiddlewareHandler): MiddlewareHandler {
  return (c, next) =>
    c.req.header("content-length") === undefined && c.req.header("transfer-encoding") === undefined
      ? next()
      : check(c, next);
}
