import { errorName } from "../logger";
import { createHash } from "node:crypto";
import { readCookie, SESSION_COOKIE } from "../auth/admin-sessions";
import { safeEqual } from "../auth/safe-equal";
import { checkKey } from "./auth-failures";
import type { OpenAPIHono, RouteConfig } from "@hono/zod-openapi";
import { isSpanContextValid, SpanKind, SpanStatusCode } from "@opentelemetry/api";
import type { Context } from "hono";
import type { z } from "zod";
import type { Principal, Scope } from "../auth/api-keys";
import { assertNamespaceAccess, type StateAccessSpec } from "./namespace-access";
import type { ApiServices } from "./services";
import { parseJsonBody } from "./json-body";
import { grants } from "./access";
import { HttpError, problemResponse, statusOf } from "./problem";

type Method = "get" | "put" | "post" | "patch" | "delete";
type AnyObject = z.ZodObject<z.ZodRawShape>;

export interface RouteSpec<
  P extends AnyObject | undefined,
  Q extends AnyObject | undefined,
  B extends z.ZodType | undefined,
> {
  method: Method;
  /** OpenAPI form, e.g. /api/v1/state/{ns}/{key}. */
  path: string;
  summary: string;
  tags: string[];
  /**
   * The scope the caller's key must carry; "any": any valid key (a door whose operations check their own
   * scopes, such as MCP's tools); null = no authentication.
   */
  scope: Scope | "any" | null;
  params?: P;
  query?: Q;
  /** Request body: its schema and the content types it may arrive as (the first is documented as primary). */
  body?: {
    schema: B;
    contentTypes: string[];
    description?: string;
    /** How a body that is JSON but does not fit the schema is refused: 400 `malformed` unless `invalid` (422). */
    mismatch?: "malformed" | "invalid";
    /** A request without a body (no Content-Type, nothing sent) is accepted; the handler sees `undefined`. */
    optional?: boolean;
  };
  /** Request headers worth documenting (If-Match, Idempotency-Key, ...). */
  headers?: AnyObject;
  responses: RouteConfig["responses"];
  /** Replays the first answer for a repeated Idempotency-Key (mutating routes). */
  idempotent?: boolean;
  /** Operations the call counts against the tenant's daily quota (default 1 for calls that write or run agents). */
  operations?: (body: B extends z.ZodType ? z.infer<B> : undefined) => number;
  /** Longer OpenAPI description (who may call it, beyond `scope`). */
  description?: string;
  /** How errors are answered: problem+json unless a door speaks another protocol's shape (the OpenAI door's). */
  errorResponse?: (err: unknown, context: { instance?: string; traceId?: string }) => Response;
  /** The key may also come as `X-Api-Key: <key>` (what LangGraph's SDK sends) when there is no Authorization. */
  apiKeyHeader?: boolean;
  /** State routes: the namespaces the request reaches, checked against their owners before anything runs. */
  stateAccess?: StateAccessSpec<{ params: Infer<P>; body: Infer<B> }>;
}

export interface Handled<P, Q, B> {
  c: Context;
  services: ApiServices;
  principal: Principal;
  params: P;
  query: Q;
  body: B;
  /** The body's content type (without parameters), when there is a body. */
  contentType: string | undefined;
}

type Infer<T> = T extends z.ZodType ? z.infer<T> : undefined;

/** Routes as served, for 405 answers and the test that checks the OpenAPI document against the router. */
export interface ServedRoute {
  method: string;
  path: string;
  pattern: RegExp;
}

/**
 * Defines one API route: documents it in the OpenAPI registry from the same zod schemas that validate
 * it, and mounts a handler that authenticates, rate-limits, parses and maps errors to problem+json.
 * Handlers receive parsed input and return a Response; they never see raw headers for auth or bodies.
 */
export function defineRoute<
  P extends AnyObject | undefined,
  Q extends AnyObject | undefined,
  B extends z.ZodType | undefined,
>(
  app: OpenAPIHono,
  served: ServedRoute[],
  services: ApiServices,
  spec: RouteSpec<P, Q, B>,
  handler: (h: Handled<Infer<P>, Infer<Q>, Infer<B>>) => Promise<Response>,
): void {
  app.openAPIRegistry.registerPath({
    method: spec.method,
    path: spec.path,
    summary: spec.summary,
    ...(spec.description ? { description: spec.description } : {}),
    tags: spec.tags,
    // The scope a key needs, in the document itself (OpenAPI 3.1 allows role names for non-OAuth schemes).
    security: spec.scope ? [{ bearerAuth: spec.scope === "any" ? [] : [spec.scope] }] : [],
    request: {
      ...(spec.params ? { params: spec.params } : {}),
      ...(spec.query ? { query: spec.query } : {}),
      ...(spec.headers ? { headers: spec.headers } : {}),
      ...(spec.body
        ? {
            body: {
              required: !spec.body.optional,
              description: spec.body.description,
              content: Object.fromEntries(
                spec.body.contentTypes.map((ct) => [ct, { schema: spec.body!.schema as z.ZodType }]),
              ),
            },
          }
        : {}),
    },
    responses: spec.responses,
  });
  const honoPath = spec.path.replace(/\{(\w+)\}/g, ":$1");
  served.push({
    method: spec.method.toUpperCase(),
    path: spec.path,
    pattern: new RegExp(`^${spec.path.replace(/\{\w+\}/g, "[^/]+")}$`),
  });

  const route = spec.path;
  const method = spec.method.toUpperCase();
  app.on(method, honoPath, (c) =>
    services.telemetry.tracer.startActiveSpan(
      `${method} ${route}`,
      { kind: SpanKind.SERVER, attributes: { "http.route": route, "http.request.method": method } },
      async (span) => {
        const started = performance.now();
        // No id when telemetry is off (the all-zero id of a no-op span names no trace).
        const traceId = isSpanContextValid(span.spanContext()) ? span.spanContext().traceId : undefined;
        let response: Response;
        try {
          response = await handle(c, services, spec, handler);
        } catch (err) {
          if (statusOf(err) >= 500 && statusOf(err) !== 503)
            services.log.error("request failed", { route, method, traceId, error: errorName(err) });
          response = (spec.errorResponse ?? problemResponse)(err, { instance: new URL(c.req.url).pathname, traceId });
          // The rate-limit headers describe this request too, refused (429) or answered with a problem.
          for (const h of ["ratelimit-limit", "ratelimit-remaining"]) {
            const v = c.res.headers.get(h);
            if (v !== null) response.headers.set(h, v);
          }
        }
        span.setAttribute("http.response.status_code", response.status);
        if (response.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
        services.telemetry.instruments.httpServerDuration.record((performance.now() - started) / 1000, {
          route,
          method,
          status: String(response.status),
        });
        return response;
      },
    ),
  );
}

async function handle<
  P extends AnyObject | undefined,
  Q extends AnyObject | undefined,
  B extends z.ZodType | undefined,
>(
  c: Context,
  services: ApiServices,
  spec: RouteSpec<P, Q, B>,
  handler: (h: Handled<Infer<P>, Infer<Q>, Infer<B>>) => Promise<Response>,
): Promise<Response> {
  const principal = spec.scope ? await authenticate(c, services, spec.scope, spec.apiKeyHeader) : anonymous;
  const params = spec.params ? parse(spec.params, c.req.param(), "path parameter") : undefined;
  const query = spec.query ? parse(spec.query, c.req.query(), "query parameter") : undefined;
  let body: unknown;
  let rawBody = "";
  let contentType: string | undefined;
  const bodyless =
    spec.body?.optional &&
    c.req.header("content-type") === undefined &&
    (c.req.header("content-length") ?? "0") === "0" &&
    c.req.header("transfer-encoding") === undefined;
  if (spec.body && !bodyless) {
    contentType = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (!spec.body.contentTypes.includes(contentType)) {
      throw new HttpError("unsupported_media_type", `send the body as ${spec.body.contentTypes.join(" or ")}`, {
        accepted: spec.body.contentTypes,
      });
    }
    rawBody = await c.req.text();
    // Nesting is checked on the raw text, before anything (zod, patches, serialization) recurses into it.
    // An optional body may also be empty under its content type (clients send the header regardless).
    if (!(spec.body.optional && rawBody.trim() === ""))
      body = parse(spec.body.schema as z.ZodType, parseJsonBody(rawBody), "body", spec.body.mismatch);
  }
  // Before the quota counts the call or anything runs: namespaces a domain owns are not the state API's to write.
  if (spec.stateAccess)
    assertNamespaceAccess(
      services.namespaces,
      principal,
      spec.stateAccess.access,
      spec.stateAccess.of({ params: params as Infer<P>, body: body as Infer<B> }),
      spec.stateAccess.list,
    );
  // Tenant policies: calls that write state or run agents pass the region pin and count against the daily quota.
  const writesOrRuns = WRITE_SCOPES.has(spec.scope);
  if (spec.method !== "get" && writesOrRuns) {
    const operations = spec.operations?.(body as never) ?? 1;
    const target = params as { ns?: string; key?: string } | undefined;
    await services.tenantPolicies.admitCall(principal.tenant, {
      operations,
      operation: `${spec.method.toUpperCase()} ${spec.path}`,
      namespace: target?.ns,
      key: target?.key,
      actor: principal.keyId,
    });
  }
  const run = () =>
    handler({
      c,
      services,
      principal,
      params: params as Infer<P>,
      query: query as Infer<Q>,
      body: body as Infer<B>,
      contentType,
    });
  const idempotencyKey = c.req.header("idempotency-key");
  if (spec.idempotent && idempotencyKey !== undefined) {
    return services.idempotency.run(principal, idempotencyKey, fingerprint(c, rawBody), run);
  }
  return run();
}

const anonymous: Principal = { keyId: "anonymous", tenant: "default", scopes: new Set() };

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Scopes of calls that write state or run agents: besides GETs, each counts against the tenant's daily quota. */
const WRITE_SCOPES = new Set<Scope | "any" | null>(["state:write", "agents:invoke", "agents:manage", "memories:write"]);

/**
 * The caller: an API key (`Authorization: Bearer`), or else a dashboard session cookie, whose unsafe
 * requests must also carry its CSRF token. Then the scope check and the rate limit.
 */
async function authenticate(
  c: Context,
  services: ApiServices,
  scope: Scope | "any",
  apiKeyHeader = false,
): Promise<Principal> {
  const apiKey = apiKeyHeader ? c.req.header("x-api-key") : undefined;
  const header = c.req.header("authorization") ?? (apiKey === undefined ? undefined : `Bearer ${apiKey}`);
  let principal: Principal | undefined;
  if (header === undefined) {
    const session = await services.session(readCookie(c.req.header("cookie"), SESSION_COOKIE));
    if (session) {
      if (!SAFE_METHODS.has(c.req.method) && !safeEqual(c.req.header("x-csrf-token") ?? "", session.csrf)) {
        throw new HttpError("forbidden", "this dashboard request needs the session's X-CSRF-Token header");
      }
      principal = await services.keys.principalById(session.keyId);
      if (!principal) throw new HttpError("unauthorized", "the dashboard session's key was revoked; log in again");
    }
  }
  if (!principal) {
    if (header === undefined)
      throw new HttpError(
        "unauthorized",
        "send an API key as 'Authorization: Bearer <key>'",
        {},
        { "www-authenticate": 'Bearer realm="statehouse"' },
      );
    // A malformed header counts as a failed check too; failures are throttled per client address.
    const token = /^Bearer\s+(\S{1,512})\s*$/i.exec(header)?.[1];
    principal = await checkKey(c, services, token, () =>
      token === undefined
        ? new HttpError(
            "unauthorized",
            "send an API key as 'Authorization: Bearer <key>'",
            {},
            { "www-authenticate": 'Bearer realm="statehouse"' },
          )
        : new HttpError(
            "unauthorized",
            "the API key is not valid (unknown, malformed or revoked)",
            {},
            { "www-authenticate": 'Bearer realm="statehouse", error="invalid_token"' },
          ),
    );
  }
  // admin implies every scope but platform:admin (within the key's own tenant); platform:admin implies admin.
  if (scope !== "any" && !grants(principal.scopes, scope))
    throw new HttpError("forbidden", `this key lacks the ${scope} scope`, { requiredScope: scope });
  // The key's bucket and its tenant's: the headers report the one that binds (Limit = its size).
  const decision = await services.rateLimit(principal);
  c.header("ratelimit-limit", String(decision.limit));
  c.header("ratelimit-remaining", String(decision.remaining));
  if (!decision.allowed) {
    const retryAfterSeconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
    throw new HttpError(
      "rate_limited",
      `the ${decision.bucket === "tenant" ? "tenant's" : "API key's"} rate limit is used up (bursts of ${decision.limit})`,
      { retryAfterSeconds, bucket: decision.bucket },
      { "retry-after": String(retryAfterSeconds) },
    );
  }
  return principal;
}

function parse<T extends z.ZodType>(
  schema: T,
  input: unknown,
  where: string,
  code: "malformed" | "invalid" = "malformed",
): z.infer<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.slice(0, 10).map((i) => ({ path: i.path.join("."), message: i.message }));
  const first = issues[0];
  throw new HttpError(
    code,
    `invalid ${where}${first ? ` ${first.path ? `'${first.path}'` : ""}: ${first.message}` : ""}`,
    first ? { field: first.path, issues } : { issues },
  );
}

function fingerprint(c: Context, rawBody: string): string {
  return createHash("sha256")
    .update(`${c.req.method} ${new URL(c.req.url).pathname}\n${rawBody}`)
    .digest("hex");
}
