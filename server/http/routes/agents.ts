import { z } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import { problems, type RouteKit } from "./kit";

const AgentParams = z.object({ agent: z.string().openapi({ param: { name: "agent", in: "path" }, example: "assistant" }) });
const SessionParams = AgentParams.extend({ id: z.string().max(128).openapi({ param: { name: "id", in: "path" } }) });
const Entities = z.record(z.string(), z.unknown()).openapi("Entities");
const TurnResult = z
  .object({
    reply: z.string(),
    turn: z.number().int().nullable(),
    version: z.number().int().nullable(),
    intent: z.string(),
    entities: Entities,
    degraded: z.boolean().openapi({ description: "True when memory was unavailable: the reply was made without state" }),
  })
  .openapi("TurnResult");
const MessageBody = z.object({ content: z.string().min(1).max(32_000) }).openapi("MessageRequest");

export function registerAgentRoutes({ define }: RouteKit): void {
  // POST /api/v1/agents/{agent}/sessions – start a conversation
  define(
    {
      method: "post", path: "/api/v1/agents/{agent}/sessions", summary: "Start a session", tags: ["agents"], scope: "agents:invoke", params: AgentParams, idempotent: true,
      responses: { 201: { description: "Created", content: { "application/json": { schema: z.object({ sessionId: z.string(), agent: z.string(), version: z.number(), createdAt: z.string() }).openapi("Session") } } }, ...problems(401, 403, 404, 429, 503) },
    },
    async ({ c, services, principal, params }) => {
      const s = await services.agents.createSession(principal.tenant, params.agent);
      c.header("location", `/api/v1/agents/${params.agent}/sessions/${s.sessionId}`);
      c.header("etag", `"${s.version}"`);
      return c.json({ sessionId: s.sessionId, agent: params.agent, version: s.version, createdAt: s.createdAt.toISOString() }, 201);
    },
  );

  // POST /api/v1/agents/{agent}/sessions/{id}/messages – one turn; Accept: text/event-stream streams the reply
  define(
    {
      method: "post", path: "/api/v1/agents/{agent}/sessions/{id}/messages", summary: "Send a message (one turn)", tags: ["agents"], scope: "agents:invoke", params: SessionParams, idempotent: true,
      body: { schema: MessageBody, contentTypes: ["application/json"] },
      responses: {
        200: {
          description: "The reply and the turn it was saved as. With Accept: text/event-stream: `token` events, then one `done` event carrying this object.",
          content: { "application/json": { schema: TurnResult }, "text/event-stream": { schema: z.string() } },
        },
        ...problems(400, 401, 403, 404, 409, 413, 415, 429, 503),
      },
    },
    async ({ c, services, principal, params, body }) => {
      const turn = await services.agents.prepareTurn(principal.tenant, params.agent, params.id, body.content);
      if (!(c.req.header("accept") ?? "").includes("text/event-stream")) {
        return c.json(await turn.commit(await services.agents.model.reply(turn.context)));
      }
      return streamSSE(c, async (stream) => {
        let reply = "";
        for await (const piece of services.agents.model.stream(turn.context)) {
          reply += piece;
          await stream.writeSSE({ event: "token", data: JSON.stringify({ text: piece }) });
        }
        await stream.writeSSE({ event: "done", data: JSON.stringify(await turn.commit(reply)) });
      });
    },
  );

  // GET /api/v1/agents/{agent}/sessions/{id} – the session's state and memory budget
  define(
    {
      method: "get", path: "/api/v1/agents/{agent}/sessions/{id}", summary: "A session's state", tags: ["agents"], scope: "agents:invoke", params: SessionParams,
      responses: { 200: { description: "Memory: recent turns, summary, entities, intent, budget", content: { "application/json": { schema: z.record(z.string(), z.unknown()).openapi("SessionState") } } }, ...problems(401, 403, 404, 429, 503) },
    },
    async ({ c, services, principal, params }) => {
      const s = await services.agents.getSession(principal.tenant, params.agent, params.id);
      c.header("etag", `"${s.version}"`);
      return c.json({ ...s, updatedAt: s.updatedAt.toISOString(), expiresAt: s.expiresAt?.toISOString() ?? null });
    },
  );

  // DELETE /api/v1/agents/{agent}/sessions/{id} – end a session
  define(
    {
      method: "delete", path: "/api/v1/agents/{agent}/sessions/{id}", summary: "End a session", tags: ["agents"], scope: "agents:invoke", params: SessionParams,
      responses: { 204: { description: "Ended" }, ...problems(401, 403, 404, 429, 503) },
    },
    async ({ c, services, principal, params }) => {
      await services.agents.endSession(principal.tenant, params.agent, params.id);
      return c.body(null, 204);
    },
  );
}
