// Agent definitions over HTTP: a tenant's agents, each a versioned record (ETag, If-Match, history).
import { z } from "@hono/zod-openapi";
import { AGENT_NAME, AgentDefinitionSchema } from "../../agents/definitions";
import { resolvePrecondition, WriteHeaders } from "../preconditions";
import { json, pathParam, problems, type RouteKit, reply } from "./kit";

const NameParams = z.object({ name: pathParam("name", { max: 64, example: "support-bot" }) });
// Rebuilt with the OpenAPI-extended z: the domain's schema was made before the extension existed.
const Definition = z.strictObject(AgentDefinitionSchema.shape).openapi("AgentDefinition", {
  description:
    "Every field optional. model.provider openai-compatible needs baseUrl (on STATEHOUSE_AGENT_BASE_URLS) and " +
    "name; apiKeyEnv names an environment variable on STATEHOUSE_AGENT_API_KEY_ENVS (the key itself is never stored)",
});
const Agent = z
  .object({
    name: z.string(),
    builtIn: z.boolean().openapi({ description: "The built-in agent (assistant): every tenant's, read-only" }),
    version: z.number().int().openapi({ description: "The definition's version (the ETag); 0 for the built-in agent" }),
    definition: Definition,
    createdAt: z.string().nullable(),
    updatedAt: z.string().nullable(),
  })
  .openapi("Agent");
const AgentList = z.object({ agents: z.array(Agent), nextCursor: z.string().optional() }).openapi("AgentList");
const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).optional(),
  cursor: z.string().max(512).optional(),
});
const ACCESS =
  "Scope `agents:manage`. Definitions are records of the `agents` namespace: the state API reads them (with " +
  "`agents:manage`) and shows their history, never writes them.";

export function registerAgentDefinitionRoutes({ define }: RouteKit): void {
  // GET /api/v1/agents – the tenant's agents, the built-in one first
  define(
    {
      method: "get",
      path: "/api/v1/agents",
      summary: "List agents",
      tags: ["agents"],
      scope: "agents:manage",
      description: ACCESS,
      query: ListQuery,
      responses: {
        200: json("The built-in agent, then the tenant's by name", AgentList),
        ...problems(400, 401, 403, 429, 503),
      },
    },
    async ({ c, services, principal, query }) =>
      reply(c, AgentList, await services.agents.definitions.list(principal.tenant, query)),
  );

  // GET /api/v1/agents/{name} – one agent's definition
  define(
    {
      method: "get",
      path: "/api/v1/agents/{name}",
      summary: "An agent's definition",
      tags: ["agents"],
      scope: "agents:manage",
      description: ACCESS,
      params: NameParams,
      responses: { 200: json("The definition; ETag: its version", Agent), ...problems(401, 403, 404, 429, 503) },
    },
    async ({ c, services, principal, params }) => {
      const agent = await services.agents.definitions.get(principal.tenant, params.name);
      c.header("etag", `"${agent.version}"`);
      return reply(c, Agent, agent);
    },
  );

  // PUT /api/v1/agents/{name} – define or redefine an agent
  define(
    {
      method: "put",
      path: "/api/v1/agents/{name}",
      summary: "Define an agent",
      tags: ["agents"],
      scope: "agents:manage",
      description: `${ACCESS} Names match \`${AGENT_NAME.source}\`; \`assistant\` is built in and read-only (403).`,
      params: NameParams,
      headers: WriteHeaders,
      idempotent: true,
      body: { schema: Definition, contentTypes: ["application/json"], mismatch: "invalid" },
      responses: {
        200: json("Redefined", Agent),
        201: json("Defined", Agent),
        ...problems(400, 401, 403, 409, 412, 413, 415, 422, 429, 503),
      },
    },
    async ({ c, services, principal, params, body }) => {
      services.agents.definitions.assertWritable(params.name);
      const ref = { tenant: principal.tenant, namespace: "agents", key: params.name };
      const pre = await resolvePrecondition(c, services, ref);
      const { view, created } = await services.agents.definitions.put(principal.tenant, params.name, body, {
        ...pre,
        actor: principal.keyId,
      });
      c.header("etag", `"${view.version}"`);
      if (created) c.header("location", `/api/v1/agents/${params.name}`);
      return reply(c, Agent, view, created ? 201 : 200);
    },
  );

  // DELETE /api/v1/agents/{name} – remove a definition (its sessions stay until they expire)
  define(
    {
      method: "delete",
      path: "/api/v1/agents/{name}",
      summary: "Delete an agent",
      tags: ["agents"],
      scope: "agents:manage",
      description: `${ACCESS} The agent's sessions are kept until they expire but cannot take turns.`,
      params: NameParams,
      headers: WriteHeaders.pick({ "if-match": true }),
      responses: { 204: { description: "Deleted" }, ...problems(401, 403, 404, 412, 429, 503) },
    },
    async ({ c, services, principal, params }) => {
      services.agents.definitions.assertWritable(params.name);
      const ref = { tenant: principal.tenant, namespace: "agents", key: params.name };
      const pre = await resolvePrecondition(c, services, ref);
      await services.agents.definitions.delete(principal.tenant, params.name, {
        ifVersion: pre.ifVersion,
        actor: principal.keyId,
      });
      return c.body(null, 204);
    },
  );
}
