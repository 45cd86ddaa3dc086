import { z } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import { MAX_BATCH_DOCUMENTS, MAX_INVOKE_MESSAGES } from "../../agents/stateless";
import { USER_ID } from "../../memories/memories";
import { MAX_MESSAGE_CHARS, MAX_SESSION_ID_CHARS, MAX_SUMMARY_CHARS } from "../limits";
import { json, problems, type RouteKit, reply, pathParam } from "./kit";
import { memoryAccess } from "../access";

const AgentParams = z.object({
  agent: pathParam("agent", { example: "assistant" }),
});
const SessionParams = AgentParams.extend({
  id: pathParam("id", { max: MAX_SESSION_ID_CHARS }),
});
const INTENTS = ["greeting", "farewell", "recall", "question", "request", "inform", "thanks"] as const;
const Entities = z.record(z.string(), z.unknown()).openapi("Entities");
/** The facts the NLP finds and a session remembers (answers; what a caller sends in is `Entities`). */
const FoundEntities = z
  .object({
    name: z.string().optional(),
    email: z.string().optional(),
    phone: z.string().optional(),
    people: z.array(z.string()).optional(),
    dates: z.array(z.string()).optional(),
    amounts: z.array(z.string()).optional(),
    urls: z.array(z.string()).optional(),
  })
  .openapi("FoundEntities", {
    description: "What the assistant knows about the user (a stateless call also returns the entities it was sent)",
  });
const TurnResult = z
  .object({
    reply: z.string(),
    turn: z.number().int().nullable(),
    version: z.number().int().nullable(),
    intent: z.enum(INTENTS),
    entities: FoundEntities,
    degraded: z
      .boolean()
      .openapi({ description: "True when memory was unavailable: the reply was made without state" }),
    relatedTopic: z
      .object({ turn: z.number().int(), text: z.string(), similarity: z.number() })
      .optional()
      .openapi({ description: "The earlier message the reply picked up (from the session's profile vector)" }),
  })
  .openapi("TurnResult");
const usedOf = (max: z.ZodType) => z.object({ used: z.number().int(), max });
const SessionState = z
  .object({
    sessionId: z.string(),
    version: z.number().int(),
    updatedAt: z.string(),
    expiresAt: z.string().nullable(),
    sizeBytes: z.number().int(),
    agent: z.string(),
    agentVersion: z
      .number()
      .int()
      .openapi({ description: "The version of the agent's definition its newest turn ran with (0: built in)" }),
    window: z
      .object({ maxItems: z.number().int(), maxBytes: z.number().int(), summarize: z.boolean() })
      .openapi({ description: "The rolling window the session keeps, from its agent's memory policy" }),
    startedAt: z.string(),
    userId: z.string().nullable().optional().openapi({ description: "The end user, when the session names one" }),
    turns: z
      .array(
        z.object({
          turn: z.number().int(),
          user: z.string(),
          reply: z.string(),
          intent: z.enum(INTENTS),
          at: z.string(),
        }),
      )
      .openapi({ description: "The newest turns, at most the session's window" }),
    turnCount: z.number().int().openapi({ description: "Every turn ever taken: summarizedTurns + turns.length" }),
    summary: z.string().openapi({ description: "One extractive line per turn that left the window" }),
    summarizedTurns: z.number().int(),
    entities: FoundEntities,
    facts: z
      .array(z.object({ turn: z.number().int(), text: z.string(), entities: FoundEntities }))
      .optional()
      .openapi({ description: "The newest statements that named something (at most 20), with what was found in each" }),
    intent: z.enum(INTENTS).nullable(),
    budget: z.object({
      turns: usedOf(z.number().int()),
      bytes: usedOf(z.number().int().nullable()),
      sizeBytes: usedOf(z.number().int()),
    }),
  })
  .openapi("SessionState");
const MessageBody = z.object({ content: z.string().min(1).max(MAX_MESSAGE_CHARS) }).openapi("MessageRequest");

export function registerAgentRoutes({ define }: RouteKit): void {
  // POST /api/v1/agents/{agent}/sessions – start a conversation
  define(
    {
      method: "post",
      path: "/api/v1/agents/{agent}/sessions",
      summary: "Start a session",
      tags: ["agents"],
      scope: "agents:invoke",
      params: AgentParams,
      idempotent: true,
      body: {
        schema: z
          .strictObject({
            userId: z.string().regex(USER_ID).optional().openapi({
              description: "The end user: agents with memory.longTerm recall and keep their memories",
            }),
          })
          .openapi("NewSession"),
        contentTypes: ["application/json"],
        mismatch: "invalid",
        optional: true,
      },
      responses: {
        201: {
          description: "Created",
          content: {
            "application/json": {
              schema: z
                .object({ sessionId: z.string(), agent: z.string(), version: z.number(), createdAt: z.string() })
                .openapi("Session"),
            },
          },
        },
        ...problems(401, 403, 404, 415, 422, 429, 503),
      },
    },
    async ({ c, services, principal, params, body }) => {
      const s = await services.agents.createSession(principal.tenant, params.agent, { userId: body?.userId });
      c.header("location", `/api/v1/agents/${params.agent}/sessions/${s.sessionId}`);
      c.header("etag", `"${s.version}"`);
      return c.json(
        { sessionId: s.sessionId, agent: params.agent, version: s.version, createdAt: s.createdAt.toISOString() },
        201,
      );
    },
  );

  // POST /api/v1/agents/{agent}/sessions/{id}/messages – one turn; Accept: text/event-stream streams the reply
  define(
    {
      method: "post",
      path: "/api/v1/agents/{agent}/sessions/{id}/messages",
      summary: "Send a message (one turn)",
      tags: ["agents"],
      scope: "agents:invoke",
      params: SessionParams,
      idempotent: true,
      body: { schema: MessageBody, contentTypes: ["application/json"] },
      responses: {
        200: {
          description:
            "The reply and the turn it was saved as. With Accept: text/event-stream: `token` events, then one `done` " +
            "event carrying this object.",
          content: { "application/json": { schema: TurnResult }, "text/event-stream": { schema: z.string() } },
        },
        ...problems(400, 401, 403, 404, 409, 413, 415, 429, 503),
      },
    },
    async ({ c, services, principal, params, body }) => {
      const turn = await services.agents.prepareTurn(principal.tenant, params.agent, params.id, body.content, {
        memory: memoryAccess(principal),
      });
      if (!(c.req.header("accept") ?? "").includes("text/event-stream")) {
        return reply(c, TurnResult, await turn.commit((await turn.model.reply(turn.context)).text));
      }
      return streamSSE(c, async (stream) => {
        let reply = "";
        for await (const piece of turn.model.stream(turn.context)) {
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
      method: "get",
      path: "/api/v1/agents/{agent}/sessions/{id}",
      summary: "A session's state",
      tags: ["agents"],
      scope: "agents:invoke",
      params: SessionParams,
      responses: {
        200: json("Memory: recent turns, summary, entities, intent, budget", SessionState),
        ...problems(401, 403, 404, 409, 429, 503),
      },
    },
    async ({ c, services, principal, params }) => {
      const s = await services.agents.getSession(principal.tenant, params.agent, params.id);
      c.header("etag", `"${s.version}"`);
      return reply(c, SessionState, {
        ...s,
        updatedAt: s.updatedAt.toISOString(),
        expiresAt: s.expiresAt?.toISOString() ?? null,
      });
    },
  );

  // DELETE /api/v1/agents/{agent}/sessions/{id} – end a session
  define(
    {
      method: "delete",
      path: "/api/v1/agents/{agent}/sessions/{id}",
      summary: "End a session",
      tags: ["agents"],
      scope: "agents:invoke",
      params: SessionParams,
      responses: { 204: { description: "Ended" }, ...problems(401, 403, 404, 429, 503) },
    },
    async ({ c, services, principal, params }) => {
      await services.agents.endSession(principal.tenant, params.agent, params.id);
      return c.body(null, 204);
    },
  );
}

const InvokeBody = z
  .object({
    messages: z
      .array(z.object({ role: z.enum(["user", "assistant"]), content: z.string().min(1).max(MAX_MESSAGE_CHARS) }))
      .min(1)
      .max(MAX_INVOKE_MESSAGES)
      .openapi({ description: "The whole conversation, oldest first; the last message is the user's" }),
    summary: z
      .string()
      .max(MAX_SUMMARY_CHARS)
      .optional()
      .openapi({ description: "A summary of turns older than the messages sent" }),
    entities: Entities.optional().openapi({
      description: "Facts known from before the messages sent (name, email, ...)",
    }),
  })
  .openapi("InvokeRequest");
const InvokeResult = TurnResult.extend({
  turn: z
    .number()
    .int()
    .openapi({ description: "The number of user messages sent (the turn this would be in a session)" }),
  version: z.null(),
}).openapi("InvokeResult");
const BatchBody = z
  .object({
    documents: z
      .array(z.unknown().openapi({ description: "{ id?: string (≤128), text: string (1–32000) }" }))
      .min(1)
      .max(MAX_BATCH_DOCUMENTS)
      .openapi({
        description:
          `Up to ${MAX_BATCH_DOCUMENTS} documents, each { id?, text }, validated one by one: a malformed ` +
          `document is reported in its place`,
      }),
  })
  .openapi("BatchRequest");
const BatchItem = z
  .object({
    index: z.number().int(),
    id: z.string().optional(),
    ok: z.boolean(),
    intent: z.enum(INTENTS).optional(),
    entities: FoundEntities.optional(),
    error: z.object({ code: z.enum(["invalid", "failed"]), detail: z.string() }).optional(),
  })
  .openapi("BatchItemResult");

export function registerStatelessAgentRoutes({ define }: RouteKit): void {
  // POST /api/v1/agents/{agent}/invoke – one stateless turn: the whole context in, a reply out, nothing stored
  define(
    {
      method: "post",
      path: "/api/v1/agents/{agent}/invoke",
      summary: "Stateless turn (context sent whole, nothing stored)",
      tags: ["agents"],
      scope: "agents:invoke",
      params: AgentParams,
      body: { schema: InvokeBody, contentTypes: ["application/json"] },
      responses: {
        200: json("The reply, as a session turn would answer; nothing is stored", InvokeResult),
        ...problems(400, 401, 403, 404, 413, 415, 422, 429),
      },
    },
    async ({ c, services, principal, params, body }) =>
      reply(c, InvokeResult, await services.agents.invoke(principal.tenant, params.agent, body)),
  );

  // POST /api/v1/agents/{agent}/batch – classify independent documents (intent and entities), errors per item
  define(
    {
      method: "post",
      path: "/api/v1/agents/{agent}/batch",
      summary: "Classify documents in a batch",
      tags: ["agents"],
      scope: "agents:invoke",
      params: AgentParams,
      body: { schema: BatchBody, contentTypes: ["application/json"] },
      operations: (body) => body.documents.length,
      responses: {
        200: {
          description: "One result per document, in order; failed documents carry `error`",
          content: {
            "application/json": {
              schema: z
                .object({ results: z.array(BatchItem), succeeded: z.number().int(), failed: z.number().int() })
                .openapi("BatchResult"),
            },
          },
        },
        ...problems(400, 401, 403, 404, 413, 415, 429),
      },
    },
    async ({ c, services, principal, params, body }) => {
      const results = await services.agents.classify(principal.tenant, params.agent, body.documents);
      const failed = results.filter((r) => !r.ok).length;
      return c.json({ results, succeeded: results.length - failed, failed });
    },
  );
}
