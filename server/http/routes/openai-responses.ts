// The OpenAI door's server-side state: the Conversations API (a conversation is a session, keyed conv_…)
// and the Responses API (a response continues a conversation, a previous response, or nothing).
import { randomBytes } from "node:crypto";
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { AgentContext, AgentModel, ModelReply, TokenUsage } from "../../agents/model";
import type { ConversationMessage, SessionState, StoredResponse } from "../../agents/sessions";
import { emptyMemory, withMessages } from "../../agents/sessions";
import { MAX_INVOKE_MESSAGES } from "../../agents/stateless";
import { MAX_MESSAGE_CHARS } from "../limits";
import { openaiErrorResponse } from "../openai-errors";
import { HttpError } from "../problem";
import type { ApiServices } from "../services";
import { json, pathParam, type RouteKit } from "./kit";
import { agentFor, OPENAI_BASE, openaiErrors as errors } from "./openai";
import { memoryAccess } from "../access";
import type { Principal } from "../../auth/api-keys";

const Metadata = z
  .record(z.string().max(64), z.string().max(512))
  .refine((m) => Object.keys(m).length <= 16, "at most 16 pairs")
  .openapi({ description: "At most 16 pairs; `user_id` names the end user" });
const Part = z.object({ type: z.string(), text: z.string().max(MAX_MESSAGE_CHARS).optional() }).passthrough();
const InputItem = z
  .object({
    type: z.string().optional(),
    role: z.enum(["user", "assistant", "system", "developer"]),
    content: z.union([z.string().max(MAX_MESSAGE_CHARS), z.array(Part).max(64)]),
  })
  .passthrough();
const Items = z.array(InputItem).max(MAX_INVOKE_MESSAGES);

const Conversation = z
  .object({ id: z.string(), object: z.literal("conversation"), created_at: z.number().int(), metadata: Metadata })
  .openapi("OpenAIConversation");
const Item = z
  .object({
    type: z.literal("message"),
    id: z.string(),
    status: z.literal("completed"),
    role: z.enum(["user", "assistant"]),
    content: z.array(z.object({ type: z.string(), text: z.string() }).passthrough()),
  })
  .openapi("OpenAIMessageItem");
const ItemList = z
  .object({
    object: z.literal("list"),
    data: z.array(Item),
    first_id: z.string().nullable(),
    last_id: z.string().nullable(),
    has_more: z.boolean(),
  })
  .openapi("OpenAIItemList");
const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).optional(),
  order: z.enum(["asc", "desc"]).optional(),
  after: z.string().max(128).optional(),
});
const ConversationParams = z.object({ id: pathParam("id", { max: 64, example: "conv_0123456789abcdef" }) });
const ResponseParams = z.object({ id: pathParam("id", { max: 64, example: "resp_0123456789abcdef" }) });
const ResponseObject = z
  .object({
    id: z.string(),
    object: z.literal("response"),
    created_at: z.number().int(),
    status: z.enum(["in_progress", "completed"]),
    model: z.string(),
    instructions: z.string().nullable(),
    output: z.array(
      z.object({
        id: z.string(),
        type: z.literal("message"),
        status: z.string(),
        role: z.literal("assistant"),
        content: z.array(z.object({ type: z.literal("output_text"), text: z.string() }).passthrough()),
      }),
    ),
    previous_response_id: z.string().nullable(),
    conversation: z.object({ id: z.string() }).nullable(),
    store: z.boolean(),
    usage: z
      .object({ input_tokens: z.number().int(), output_tokens: z.number().int(), total_tokens: z.number().int() })
      .passthrough()
      .nullable(),
    metadata: Metadata,
  })
  .passthrough()
  .openapi("OpenAIResponse", {
    description: "OpenAI's Response object (the other fields OpenAI defines are present with their defaults)",
  });
const ResponseRequest = z
  .object({
    model: z.string().max(64),
    input: z.union([z.string().min(1).max(MAX_MESSAGE_CHARS), Items.min(1)]),
    instructions: z.string().max(MAX_MESSAGE_CHARS).nullable().optional(),
    conversation: z
      .union([z.string().max(64), z.object({ id: z.string().max(64) })])
      .nullable()
      .optional(),
    previous_response_id: z.string().max(64).nullable().optional(),
    store: z.boolean().nullable().optional(),
    metadata: Metadata.nullable().optional(),
    stream: z.boolean().nullable().optional(),
  })
  .passthrough()
  .openapi("OpenAIResponseRequest");

const textOf = (content: z.infer<typeof InputItem>["content"]) =>
  typeof content === "string" ? content : content.map((p) => p.text ?? "").join("");

/** An input's messages: user and assistant turns, and system/developer text (added to the instructions). */
function messagesOf(input: z.infer<typeof ResponseRequest>["input"]) {
  const items = typeof input === "string" ? [{ role: "user" as const, content: input }] : input;
  const instructions = items.filter((i) => i.role === "system" || i.role === "developer").map((i) => textOf(i.content));
  const messages: ConversationMessage[] = items
    .filter((i) => i.role === "user" || i.role === "assistant")
    .map((i) => ({ role: i.role as "user" | "assistant", text: textOf(i.content) }));
  return { instructions, messages };
}

const newId = (prefix: string) => `${prefix}_${randomBytes(16).toString("hex")}`;

/** A conversation's items: each turn's user message, then the reply, with ids stable across reads. */
function itemsOf(id: string, state: SessionState): z.infer<typeof Item>[] {
  const base = id.replace(/^conv_/, "");
  return state.turns.flatMap((t) => [
    ...(t.user
      ? [
          {
            type: "message" as const,
            id: `msg_${base}_${t.turn}u`,
            status: "completed" as const,
            role: "user" as const,
            content: [{ type: "input_text", text: t.user }],
          },
        ]
      : []),
    ...(t.reply
      ? [
          {
            type: "message" as const,
            id: `msg_${base}_${t.turn}a`,
            status: "completed" as const,
            role: "assistant" as const,
            content: [{ type: "output_text", text: t.reply, annotations: [] }],
          },
        ]
      : []),
  ]);
}

/** OpenAI's list envelope over `items`: newest first unless `order: asc`, after `after`, at most `limit`. */
function page<T extends { id: string }>(items: T[], query: z.infer<typeof ListQuery>) {
  const ordered = query.order === "asc" ? items : [...items].reverse();
  const start = query.after ? ordered.findIndex((i) => i.id === query.after) + 1 : 0;
  const data = ordered.slice(start, start + (query.limit ?? 20));
  return {
    object: "list" as const,
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: start + data.length < ordered.length,
  };
}

const conversationObject = (c: { id: string; createdAt: Date; state: SessionState }) => ({
  id: c.id,
  object: "conversation" as const,
  created_at: Math.floor(c.createdAt.getTime() / 1000),
  metadata: c.state.metadata ?? {},
});

/** The conversation a request names, or OpenAI's 404; only `conv_` ids are conversations. */
async function conversationOf(services: ApiServices, tenant: string, id: string) {
  if (!id.startsWith("conv_")) throw new HttpError("not_found", `Conversation with id '${id.slice(0, 64)}' not found.`);
  try {
    return await services.agents.readConversation(tenant, id);
  } catch (err) {
    if ((err as { code?: string }).code === "not_found")
      throw new HttpError("not_found", `Conversation with id '${id.slice(0, 64)}' not found.`);
    throw err;
  }
}

export function registerOpenAIStateRoutes({ define }: RouteKit): void {
  const door = { tags: ["openai"], scope: "agents:invoke" as const, errorResponse: openaiErrorResponse };

  define(
    {
      ...door,
      method: "post",
      path: `${OPENAI_BASE}/conversations`,
      summary: "Create a conversation (a session, bound to an agent by its first response)",
      body: {
        schema: z
          .object({ items: Items.optional().nullable(), metadata: Metadata.optional().nullable() })
          .passthrough(),
        contentTypes: ["application/json"],
      },
      responses: { 200: json("The conversation", Conversation), ...errors(400, 401, 403, 413, 429, 503) },
    },
    async ({ c, services, principal, body }) => {
      const { messages } = messagesOf(body.items ?? []);
      const created = await services.agents.createConversation(principal.tenant, body.metadata ?? {}, messages);
      return c.json(conversationObject(created));
    },
  );

  define(
    {
      ...door,
      method: "get",
      path: `${OPENAI_BASE}/conversations/{id}`,
      summary: "Retrieve a conversation",
      params: ConversationParams,
      responses: { 200: json("The conversation", Conversation), ...errors(401, 403, 404, 429, 503) },
    },
    async ({ c, services, principal, params }) =>
      c.json(conversationObject(await conversationOf(services, principal.tenant, params.id))),
  );

  define(
    {
      ...door,
      method: "post",
      path: `${OPENAI_BASE}/conversations/{id}`,
      summary: "Update a conversation's metadata",
      params: ConversationParams,
      body: { schema: z.object({ metadata: Metadata }).passthrough(), contentTypes: ["application/json"] },
      responses: { 200: json("The conversation", Conversation), ...errors(400, 401, 403, 404, 429, 503) },
    },
    async ({ c, services, principal, params, body }) => {
      await conversationOf(services, principal.tenant, params.id);
      const changed = await services.agents.changeConversation(principal.tenant, params.id, (s) => ({
        ...s,
        metadata: body.metadata,
      }));
      return c.json(conversationObject(changed));
    },
  );

  define(
    {
      ...door,
      method: "delete",
      path: `${OPENAI_BASE}/conversations/{id}`,
      summary: "Delete a conversation",
      params: ConversationParams,
      responses: {
        200: json(
          "Deleted",
          z.object({ id: z.string(), object: z.literal("conversation.deleted"), deleted: z.literal(true) }),
        ),
        ...errors(401, 403, 404, 429, 503),
      },
    },
    async ({ c, services, principal, params }) => {
      await conversationOf(services, principal.tenant, params.id);
      await services.agents.deleteConversation(principal.tenant, params.id);
      return c.json({ id: params.id, object: "conversation.deleted", deleted: true });
    },
  );

  define(
    {
      ...door,
      method: "get",
      path: `${OPENAI_BASE}/conversations/{id}/items`,
      summary: "List a conversation's items (the messages its memory keeps), newest first",
      params: ConversationParams,
      query: ListQuery,
      responses: { 200: json("A page of items", ItemList), ...errors(400, 401, 403, 404, 429, 503) },
    },
    async ({ c, services, principal, params, query }) => {
      const conversation = await conversationOf(services, principal.tenant, params.id);
      return c.json(page(itemsOf(params.id, conversation.state), query));
    },
  );

  define(
    {
      ...door,
      method: "post",
      path: `${OPENAI_BASE}/conversations/{id}/items`,
      summary: "Add items to a conversation",
      params: ConversationParams,
      body: { schema: z.object({ items: Items.min(1) }).passthrough(), contentTypes: ["application/json"] },
      responses: { 200: json("The items added", ItemList), ...errors(400, 401, 403, 404, 413, 429, 503) },
    },
    async ({ c, services, principal, params, body }) => {
      const before = await conversationOf(services, principal.tenant, params.id);
      const { messages } = messagesOf(body.items);
      const after = await services.agents.changeConversation(principal.tenant, params.id, (s) =>
        withMessages(s, messages),
      );
      const known = new Set(itemsOf(params.id, before.state).map((i) => i.id));
      const added = itemsOf(params.id, after.state).filter((i) => !known.has(i.id));
      return c.json(page(added, { order: "asc", limit: 100 }));
    },
  );

  define(
    {
      ...door,
      method: "post",
      path: `${OPENAI_BASE}/responses`,
      summary: "Create a response (in a conversation, after a previous response, or on its own)",
      body: { schema: ResponseRequest, contentTypes: ["application/json"] },
      responses: {
        200: {
          description: "The response; with `stream: true`, OpenAI's response.* event sequence",
          content: { "application/json": { schema: ResponseObject }, "text/event-stream": { schema: z.string() } },
        },
        ...errors(400, 401, 403, 404, 413, 415, 422, 429, 502, 503),
      },
    },
    async ({ c, services, principal, body }) => createResponse(c, services, principal, body),
  );

  define(
    {
      ...door,
      method: "get",
      path: `${OPENAI_BASE}/responses/{id}`,
      summary: "Retrieve a stored response",
      params: ResponseParams,
      responses: { 200: json("The response", ResponseObject), ...errors(401, 403, 404, 429, 503) },
    },
    async ({ c, services, principal, params }) =>
      c.json((await storedResponse(services, principal.tenant, params.id)).response),
  );

  define(
    {
      ...door,
      method: "delete",
      path: `${OPENAI_BASE}/responses/{id}`,
      summary: "Delete a stored response",
      params: ResponseParams,
      responses: {
        200: json("Deleted", z.object({ id: z.string(), object: z.literal("response"), deleted: z.literal(true) })),
        ...errors(401, 403, 404, 429, 503),
      },
    },
    async ({ c, services, principal, params }) => {
      await storedResponse(services, principal.tenant, params.id);
      await services.agents.deleteResponse(principal.tenant, params.id);
      return c.json({ id: params.id, object: "response", deleted: true });
    },
  );

  define(
    {
      ...door,
      method: "get",
      path: `${OPENAI_BASE}/responses/{id}/input_items`,
      summary: "List a stored response's input items",
      params: ResponseParams,
      query: ListQuery,
      responses: { 200: json("A page of input items", ItemList), ...errors(400, 401, 403, 404, 429, 503) },
    },
    async ({ c, services, principal, params, query }) => {
      const stored = await storedResponse(services, principal.tenant, params.id);
      return c.json(page(stored.input as z.infer<typeof Item>[], query));
    },
  );
}

async function storedResponse(services: ApiServices, tenant: string, id: string): Promise<StoredResponse> {
  const missing = () => new HttpError("not_found", `Response with id '${id.slice(0, 64)}' not found.`);
  if (!id.startsWith("resp_")) throw missing();
  try {
    return await services.agents.readResponse(tenant, id);
  } catch (err) {
    throw (err as { code?: string }).code === "not_found" ? missing() : err;
  }
}

/** POST /responses: one turn of an agent on the state the request names, answered whole or streamed. */
async function createResponse(
  c: Context,
  services: ApiServices,
  principal: Principal,
  body: z.infer<typeof ResponseRequest>,
) {
  const tenant = principal.tenant;
  const conversationId = typeof body.conversation === "string" ? body.conversation : body.conversation?.id;
  if (conversationId && body.previous_response_id)
    throw new HttpError("malformed", "Pass either conversation or previous_response_id, not both.", {
      param: "previous_response_id",
    });
  const agent = await agentFor(services, tenant, body.model);
  const { instructions: inline, messages } = messagesOf(body.input);
  const last = messages.at(-1);
  if (last?.role !== "user" || !last.text)
    throw new HttpError("malformed", "The input must end with a user message.", { param: "input" });
  const prior = messages.slice(0, -1);
  const instructions = [body.instructions ?? "", ...inline].filter(Boolean).join("\n") || undefined;
  const store = body.store !== false;
  const id = newId("resp");
  const messageId = newId("msg");
  const created = Math.floor(Date.now() / 1000);
  const inputItems = messages.map((m) => ({
    type: "message",
    id: newId("msg"),
    status: "completed",
    role: m.role,
    content: [{ type: m.role === "user" ? "input_text" : "output_text", text: m.text }],
  }));

  // The turn: on the conversation (compare-and-set, binding it to this agent), or on the memory of the
  // previous response (or none), which the new response then keeps.
  let run: { context: AgentContext; model: AgentModel; finish(reply: string): Promise<SessionState | undefined> };
  if (conversationId) {
    const conversation = await conversationOf(services, tenant, conversationId);
    if (conversation.state.agent !== null && conversation.state.agent !== agent.name)
      throw new HttpError(
        "malformed",
        `This conversation belongs to model '${conversation.state.agent}'; it cannot be answered by '${agent.name}'.`,
        { param: "model" },
      );
    if (prior.length) await services.agents.changeConversation(tenant, conversationId, (s) => withMessages(s, prior));
    const turn = await services.agents.prepareTurn(tenant, agent.name, conversationId, last.text, {
      memory: memoryAccess(principal),
      instructions,
      bind: true,
    });
    run = {
      context: turn.context,
      model: turn.model,
      finish: async (reply) => {
        await turn.commit(reply);
        return undefined;
      },
    };
  } else {
    let memory: SessionState | undefined;
    if (body.previous_response_id) {
      const previous = await storedResponse(services, tenant, body.previous_response_id);
      if (previous.conversation)
        throw new HttpError("malformed", "That response belongs to a conversation: pass the conversation instead.", {
          param: "previous_response_id",
        });
      const { response: _r, input: _i, conversation: _c, ...kept } = previous;
      memory = kept;
    }
    if (prior.length) memory = withMessages(memory ?? emptyMemory(agent), prior);
    const turn = await services.agents.prepareDetached(tenant, agent.name, memory, last.text, instructions, {
      userId: body.metadata?.user_id,
      responseId: id,
      memory: memoryAccess(principal),
    });
    run = { context: turn.context, model: turn.model, finish: async (reply) => turn.next(reply) };
  }

  const response = (status: "in_progress" | "completed", text?: string, used?: TokenUsage) => ({
    id,
    object: "response",
    created_at: created,
    status,
    background: false,
    error: null,
    incomplete_details: null,
    instructions: instructions ?? null,
    max_output_tokens: null,
    model: agent.name,
    output: text === undefined ? [] : [messageItem(messageId, text, "completed")],
    parallel_tool_calls: true,
    previous_response_id: body.previous_response_id ?? null,
    conversation: conversationId ? { id: conversationId } : null,
    reasoning: { effort: null, summary: null },
    store,
    temperature: 1,
    text: { format: { type: "text" } },
    tool_choice: "auto",
    tools: [],
    top_p: 1,
    truncation: "disabled",
    usage:
      used === undefined
        ? null
        : {
            input_tokens: used.inputTokens,
            input_tokens_details: { cached_tokens: 0 },
            output_tokens: used.outputTokens,
            output_tokens_details: { reasoning_tokens: 0 },
            total_tokens: used.inputTokens + used.outputTokens,
          },
    user: null,
    metadata: body.metadata ?? {},
  });
  const keep = async ({ text, usage }: ModelReply) => {
    const memory = await run.finish(text);
    const done = response("completed", text, usage);
    if (store)
      await services.agents.saveResponse(tenant, id, {
        ...(memory ?? emptyMemory(agent)),
        response: done,
        input: inputItems,
        ...(conversationId ? { conversation: conversationId } : {}),
      });
    return done;
  };

  if (!body.stream) return c.json(await keep(await run.model.reply(run.context)));

  // The first piece is awaited before the stream opens, so a failing model is still an error answer.
  const pieces = run.model.stream(run.context);
  const first = await pieces.next();
  return streamSSE(c, async (stream) => {
    let sequence = 0;
    const send = (type: string, data: object) =>
      stream.writeSSE({ event: type, data: JSON.stringify({ type, sequence_number: sequence++, ...data }) });
    const at = { item_id: messageId, output_index: 0, content_index: 0 };
    await send("response.created", { response: response("in_progress") });
    await send("response.in_progress", { response: response("in_progress") });
    await send("response.output_item.added", {
      output_index: 0,
      item: { ...messageItem(messageId, "", "in_progress"), content: [] },
    });
    await send("response.content_part.added", {
      ...at,
      part: { type: "output_text", text: "", annotations: [], logprobs: [] },
    });
    let text = "";
    let next = first;
    for (; !next.done; next = await pieces.next()) {
      text += next.value;
      await send("response.output_text.delta", { ...at, delta: next.value, logprobs: [] });
    }
    const usage = next.value;
    await send("response.output_text.done", { ...at, text, logprobs: [] });
    await send("response.content_part.done", {
      ...at,
      part: { type: "output_text", text, annotations: [], logprobs: [] },
    });
    await send("response.output_item.done", { output_index: 0, item: messageItem(messageId, text, "completed") });
    await send("response.completed", { response: await keep({ text, usage }) });
  });
}

function messageItem(id: string, text: string, status: "in_progress" | "completed") {
  return {
    id,
    type: "message",
    status,
    role: "assistant",
    content: [{ type: "output_text", text, annotations: [], logprobs: [] }],
  };
}
