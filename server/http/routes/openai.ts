// The OpenAI door (/api/openai/v1): a tenant's agents through the protocol the official `openai` client
// speaks. A model is an agent; a Statehouse key is the API key. Errors come in OpenAI's shape.
import { randomBytes } from "node:crypto";
import { z } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import type { TokenUsage } from "../../agents/model";
import { MAX_INVOKE_MESSAGES } from "../../agents/stateless";
import { MAX_MESSAGE_CHARS } from "../limits";
import { openaiErrorResponse } from "../openai-errors";
import { HttpError } from "../problem";
import type { ApiServices } from "../services";
import { json, pathParam, type RouteKit } from "./kit";

export const OPENAI_BASE = "/api/openai/v1";

const OpenAIError = z
  .object({
    error: z.object({
      message: z.string(),
      type: z.string(),
      param: z.string().nullable(),
      code: z.string().nullable(),
    }),
  })
  .openapi("OpenAIError");

/** OpenAI's error answers, in its shape. */
export function openaiErrors(...statuses: number[]) {
  return Object.fromEntries(
    statuses.map((s) => [
      s,
      { description: "An error in OpenAI's shape", content: { "application/json": { schema: OpenAIError } } },
    ]),
  );
}

const Model = z
  .object({ id: z.string(), object: z.literal("model"), created: z.number().int(), owned_by: z.string() })
  .openapi("OpenAIModel");
const ModelList = z.object({ object: z.literal("list"), data: z.array(Model) }).openapi("OpenAIModelList");

const TextPart = z.object({ type: z.string(), text: z.string().max(MAX_MESSAGE_CHARS).optional() }).passthrough();
const ChatMessage = z
  .object({
    role: z.enum(["system", "developer", "user", "assistant"]),
    content: z.union([z.string().max(MAX_MESSAGE_CHARS), z.array(TextPart).max(64)]).nullable(),
  })
  .passthrough();
const ChatRequest = z
  .object({
    model: z.string().max(64),
    messages: z.array(ChatMessage).min(1).max(MAX_INVOKE_MESSAGES),
    stream: z.boolean().nullable().optional(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).passthrough().nullable().optional(),
  })
  .passthrough()
  .openapi("ChatCompletionRequest", {
    description:
      "Stateless, as in OpenAI: the messages are the whole context. system and developer messages are added to the " +
      "agent's instructions for this call; other OpenAI parameters are accepted and not used.",
  });
const Usage = z.object({
  prompt_tokens: z.number().int(),
  completion_tokens: z.number().int(),
  total_tokens: z.number().int(),
});
const ChatCompletion = z
  .object({
    id: z.string(),
    object: z.literal("chat.completion"),
    created: z.number().int(),
    model: z.string(),
    choices: z.array(
      z.object({
        index: z.number().int(),
        message: z.object({ role: z.literal("assistant"), content: z.string(), refusal: z.null() }),
        logprobs: z.null(),
        finish_reason: z.literal("stop"),
      }),
    ),
    usage: Usage.openapi({ description: "Estimated (about four characters a token) for the offline model" }),
    system_fingerprint: z.null(),
  })
  .openapi("ChatCompletion");

const textOf = (content: z.infer<typeof ChatMessage>["content"]): string =>
  typeof content === "string" ? content : (content ?? []).map((p) => p.text ?? "").join("");

/** An agent by its OpenAI name (`model`); an unknown one is OpenAI's 404 `model_not_found`. */
export async function agentFor(services: ApiServices, tenant: string, model: string) {
  try {
    return await services.agents.definitions.resolve(tenant, model);
  } catch (err) {
    if ((err as { name?: string }).name !== "UnknownAgentError") throw err;
    throw new HttpError("not_found", `The model '${model.slice(0, 64)}' does not exist`, { model, param: "model" });
  }
}

export function registerOpenAIRoutes({ define }: RouteKit): void {
  const door = { tags: ["openai"], scope: "agents:invoke" as const, errorResponse: openaiErrorResponse };

  // GET /api/openai/v1/models – the tenant's agents as models
  define(
    {
      ...door,
      method: "get",
      path: `${OPENAI_BASE}/models`,
      summary: "List models (the tenant's agents)",
      responses: {
        200: json("Every agent of the tenant, the built-in one first", ModelList),
        ...openaiErrors(401, 403, 429, 503),
      },
    },
    async ({ c, services, principal }) => {
      const data: z.infer<typeof Model>[] = [];
      let cursor: string | undefined;
      // At most 1000 agents (10 pages): a list call's work stays bounded however many a tenant defines.
      for (let page = 0; page < 10; page++) {
        const listed = await services.agents.definitions.list(principal.tenant, { limit: 100, cursor });
        for (const a of listed.agents)
          data.push({
            id: a.name,
            object: "model",
            created: a.createdAt ? Math.floor(Date.parse(a.createdAt) / 1000) : 0,
            owned_by: a.builtIn ? "statehouse" : principal.tenant,
          });
        cursor = listed.nextCursor;
        if (!cursor) break;
      }
      return c.json({ object: "list", data });
    },
  );

  // GET /api/openai/v1/models/{model} – one agent as a model
  define(
    {
      ...door,
      method: "get",
      path: `${OPENAI_BASE}/models/{model}`,
      summary: "Retrieve a model (an agent)",
      params: z.object({ model: pathParam("model", { max: 64, example: "assistant" }) }),
      responses: { 200: json("The agent as a model", Model), ...openaiErrors(401, 403, 404, 429, 503) },
    },
    async ({ c, services, principal, params }) => {
      const agent = await agentFor(services, principal.tenant, params.model);
      const view = await services.agents.definitions.get(principal.tenant, agent.name);
      return c.json({
        id: view.name,
        object: "model",
        created: view.createdAt ? Math.floor(Date.parse(view.createdAt) / 1000) : 0,
        owned_by: view.builtIn ? "statehouse" : principal.tenant,
      });
    },
  );

  // POST /api/openai/v1/chat/completions – one stateless completion, plain or streamed
  define(
    {
      ...door,
      method: "post",
      path: `${OPENAI_BASE}/chat/completions`,
      summary: "Create a chat completion (stateless)",
      body: { schema: ChatRequest, contentTypes: ["application/json"] },
      responses: {
        200: {
          description: "The completion; with `stream: true`, `chat.completion.chunk` events, then `data: [DONE]`",
          content: { "application/json": { schema: ChatCompletion }, "text/event-stream": { schema: z.string() } },
        },
        ...openaiErrors(400, 401, 403, 404, 413, 415, 422, 429, 502, 503),
      },
    },
    async ({ c, services, principal, body }) => {
      await agentFor(services, principal.tenant, body.model);
      const instructions = body.messages
        .filter((m) => m.role === "system" || m.role === "developer")
        .map((m) => textOf(m.content))
        .join("\n");
      const messages = body.messages
        .filter((m) => m.role === "user" || m.role === "assistant")
        .map((m) => ({ role: m.role as "user" | "assistant", content: textOf(m.content) }))
        .filter((m) => m.content.length > 0);
      if (messages.at(-1)?.role !== "user")
        throw new HttpError("malformed", "the last message must be the user's (role: user)", { param: "messages" });
      const turn = await services.agents.prepareStateless(principal.tenant, body.model, { messages }, instructions);
      const id = `chatcmpl-${randomBytes(12).toString("hex")}`;
      const created = Math.floor(Date.now() / 1000);
      const usage = (u: TokenUsage) => ({
        prompt_tokens: u.inputTokens,
        completion_tokens: u.outputTokens,
        total_tokens: u.inputTokens + u.outputTokens,
      });
      if (!body.stream) {
        const { text: reply, usage: used } = await turn.model.reply(turn.context);
        return c.json({
          id,
          object: "chat.completion",
          created,
          model: body.model,
          choices: [
            {
              index: 0,
              message: { role: "assistant", content: reply, refusal: null },
              logprobs: null,
              finish_reason: "stop",
            },
          ],
          usage: usage(used),
          system_fingerprint: null,
        });
      }
      const chunk = (delta: object, finish: "stop" | null) =>
        JSON.stringify({
          id,
          object: "chat.completion.chunk",
          created,
          model: body.model,
          system_fingerprint: null,
          choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
        });
      // The first piece is awaited before the stream opens, so a failing model is still an error answer.
      const pieces = turn.model.stream(turn.context);
      const first = await pieces.next();
      return streamSSE(c, async (stream) => {
        await stream.writeSSE({ data: chunk({ role: "assistant", content: "", refusal: null }, null) });
        let next = first;
        for (; !next.done; next = await pieces.next())
          await stream.writeSSE({ data: chunk({ content: next.value }, null) });
        const used = next.value;
        await stream.writeSSE({ data: chunk({}, "stop") });
        if (body.stream_options?.include_usage)
          await stream.writeSSE({
            data: JSON.stringify({
              id,
              object: "chat.completion.chunk",
              created,
              model: body.model,
              system_fingerprint: null,
              choices: [],
              usage: usage(used),
            }),
          });
        await stream.writeSSE({ data: "[DONE]" });
      });
    },
  );
}
