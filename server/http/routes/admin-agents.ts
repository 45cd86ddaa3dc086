// The dashboard's Agents page over HTTP: a tenant's agents with their live sessions and the last day's
// turns, latency and tokens, and an agent's newest conversations. Definitions' version history is the
// state API's (`/api/v1/admin/state/{tenant}/agents/{name}/history`).
import { z } from "@hono/zod-openapi";
import { LATENCY_BOUNDS_MS } from "../../agents/usage";
import { visibleTenant } from "../access";
import { json, pathParam, problems, type RouteKit, reply } from "./kit";

const Usage = z
  .object({
    turns: z.number().int(),
    failedTurns: z.number().int().openapi({ description: "Model calls that failed or were abandoned mid-stream" }),
    inputTokens: z.number().int(),
    outputTokens: z.number().int(),
    latencyMs: z
      .object({ mean: z.number().int(), p50: z.number().int(), p95: z.number().int() })
      .nullable()
      .openapi({
        description:
          `From a turn's start to the model's last token. Quantiles are interpolated within buckets bounded at ` +
          `${LATENCY_BOUNDS_MS.join(", ")} ms; past the last, the last bound. null: no turns`,
      }),
  })
  .openapi("AgentUsage");

const AgentFigures = z
  .object({
    name: z.string(),
    builtIn: z.boolean(),
    version: z.number().int().openapi({ description: "The definition's version (0: the built-in agent)" }),
    description: z.string().nullable(),
    model: z.object({
      provider: z.string().openapi({ description: "offline, openai-compatible, or server (the built-in agent's)" }),
      name: z.string().nullable(),
    }),
    updatedAt: z.string().nullable(),
    activeSessions: z.number().int().openapi({ description: "Live sessions and conversations bound to the agent" }),
    last24h: Usage,
    hourly: z.array(
      z.object({
        at: z.string().openapi({ description: "The hour's start (UTC)" }),
        turns: z.number().int(),
        inputTokens: z.number().int(),
        outputTokens: z.number().int(),
        p95Ms: z.number().int().nullable(),
      }),
    ),
  })
  .openapi("AdminAgent");

const AgentOverview = z
  .object({
    tenant: z.string(),
    from: z.string(),
    to: z.string(),
    agents: z.array(AgentFigures),
    truncated: z.boolean().openapi({ description: "More agents than the 200 an overview covers (the first by name)" }),
  })
  .openapi("AdminAgentOverview");

const ConversationList = z
  .object({
    tenant: z.string(),
    agent: z.string(),
    conversations: z.array(
      z.object({
        id: z.string().openapi({ description: "The session id (conv_… for conversations of the OpenAI door)" }),
        version: z.number().int(),
        turns: z.number().int(),
        agentVersion: z.number().int().openapi({ description: "The definition version its newest turn ran with" }),
        userId: z.string().nullable().openapi({ description: "metadata.user_id, when the conversation has one" }),
        startedAt: z.string().nullable(),
        updatedAt: z.string(),
        expiresAt: z.string().nullable(),
        sizeBytes: z.number().int(),
      }),
    ),
  })
  .openapi("AdminAgentConversations");

const TenantParam = z.object({ tenant: pathParam("tenant", { max: 64 }) });

export function registerAdminAgentRoutes({ define }: RouteKit): void {
  // GET /api/v1/admin/agents/{tenant} – the tenant's agents with live sessions and the last day's figures
  define(
    {
      method: "get",
      path: "/api/v1/admin/agents/{tenant}",
      summary: "A tenant's agents and their figures",
      tags: ["admin"],
      scope: "admin",
      description:
        "Per agent (the built-in one first, then by name; at most 200): its definition's version, live sessions, " +
        "and the last 24 hours' turns, failures, tokens and latency, in total and per hour. Counts are kept per " +
        "tenant, agent and hour for 8 days (in Redis when configured, shared by every instance; else per process). " +
        "A tenant admin sees its own tenant (404 for another).",
      params: TenantParam,
      responses: { 200: json("The tenant's agents", AgentOverview), ...problems(401, 403, 404, 429, 503) },
    },
    async ({ c, services, principal, params }) => {
      const tenant = visibleTenant(principal, params.tenant);
      const overview = await services.agentInsights.overview(tenant);
      return reply(c, AgentOverview, { tenant, ...overview });
    },
  );

  // GET /api/v1/admin/agents/{tenant}/{name}/conversations – the agent's newest sessions and conversations
  define(
    {
      method: "get",
      path: "/api/v1/admin/agents/{tenant}/{name}/conversations",
      summary: "An agent's newest conversations",
      tags: ["admin"],
      scope: "admin",
      description:
        "Live sessions bound to the agent (REST sessions and OpenAI-door conversations), most recently changed " +
        "first. Read from the warm tier: the cost grows with the tenant's live sessions. Each is a record of " +
        "the `sessions` namespace (the state browser shows its versions).",
      params: TenantParam.extend({ name: pathParam("name", { max: 64, example: "support-bot" }) }),
      query: z.object({ limit: z.coerce.number().int().min(1).max(200).optional() }),
      responses: { 200: json("Conversations", ConversationList), ...problems(400, 401, 403, 404, 429, 503) },
    },
    async ({ c, services, principal, params, query }) => {
      const tenant = visibleTenant(principal, params.tenant);
      const rows = await services.agentInsights.conversations(tenant, params.name, query.limit ?? 50);
      return reply(c, ConversationList, {
        tenant,
        agent: params.name,
        conversations: rows.map((r) => ({
          ...r,
          updatedAt: r.updatedAt.toISOString(),
          expiresAt: r.expiresAt?.toISOString() ?? null,
        })),
      });
    },
  );
}
