// Long-term memories over HTTP: add (consolidated), read, change, delete, list and export a user's
// memories, and search them by meaning. Scopes memories:read and memories:write.
import { z } from "@hono/zod-openapi";
import { MAX_SEARCH_RESULTS, MEMORY_KINDS, MemoryInput, type SearchHit, USER_ID } from "../../memories/memories";
import { MEMORIES_NAMESPACE } from "../../memories/namespaces";
import { grants, visibleTenant } from "../access";
import { HttpError } from "../problem";
import { resolvePrecondition, WriteHeaders } from "../preconditions";
import { json, pathParam, problems, type RouteKit, reply } from "./kit";

const Source = z
  .object({
    type: z.enum(["api", "mcp", "session"]),
    agent: z.string().optional(),
    sessionId: z.string().optional(),
    turn: z.number().int().optional(),
  })
  .openapi("MemorySource", { description: "Where the memory came from: the API, MCP, or an agent's session turn" });

const Memory = z
  .object({
    id: z.string().openapi({ example: "mem_3f9c2a7b1d4e5f60718293a4" }),
    userId: z.string(),
    agent: z.string().nullable().openapi({ description: "The agent it belongs to; null: every agent of the tenant" }),
    text: z.string(),
    kind: z.enum(MEMORY_KINDS),
    subject: z
      .string()
      .nullable()
      .openapi({ description: "What it is about when one value at a time is true (email): a new one replaces it" }),
    source: Source,
    createdAt: z.string(),
    updatedAt: z.string(),
    expiresAt: z.string().nullable(),
    version: z.number().int(),
    embeddingModel: z.string().openapi({ description: "The model its vector was made with" }),
  })
  .openapi("Memory");

// Rebuilt with the OpenAPI-extended z: the domain's schema was made before the extension existed.
const NewMemory = z.strictObject(MemoryInput.shape).openapi("NewMemory", {
  description:
    "kind defaults to fact. With a subject, the user's memory of that subject is replaced (a new version); " +
    "a text nearly the same as one the user has is merged into it",
});
const MemoryChange = z
  .strictObject({
    text: MemoryInput.shape.text,
    kind: MemoryInput.shape.kind,
    ttlSeconds: MemoryInput.shape.ttlSeconds,
  })
  .partial()
  .openapi("MemoryChange");
const MemoryPage = z.object({ memories: z.array(Memory), nextCursor: z.string().optional() }).openapi("MemoryPage");
const UserQuery = z.object({
  userId: z.string().regex(USER_ID).openapi({ description: "The end user, as the tenant names them" }),
});
const IdParams = z.object({ id: pathParam("id", { max: 64, example: "mem_3f9c2a7b1d4e5f60718293a4" }) });
const SearchRequest = z
  .strictObject({
    userId: z.string().regex(USER_ID),
    query: z.string().trim().min(1).max(2000),
    limit: z.number().int().min(1).max(MAX_SEARCH_RESULTS).optional(),
    kinds: z.array(z.enum(MEMORY_KINDS)).min(1).max(MEMORY_KINDS.length).optional(),
    agent: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,63}$/)
      .optional()
      .openapi({ description: "Only this agent's memories and those of every agent" }),
  })
  .openapi("MemorySearch");
const SearchResult = z
  .object({
    results: z.array(
      Memory.extend({
        score: z.number().openapi({ description: "Reciprocal-rank fusion of full-text and vector rankings" }),
        matched: z.boolean().openapi({ description: "Shares a stemmed word with the query (these rank first)" }),
        similarity: z.number().openapi({ description: "Cosine similarity of the vectors" }),
      }),
    ),
  })
  .openapi("MemorySearchResult");

const TAGS = ["memories"];

/** Search hits as the API answers them: each memory with its score, whether it shared a word, its similarity. */
const searchResult = (hits: SearchHit[]) => ({
  results: hits.map((h) => ({ ...h.memory, score: h.score, matched: h.matched, similarity: h.similarity })),
});

export function registerMemoryRoutes({ define }: RouteKit): void {
  // POST /api/v1/memories – add a memory (consolidated with the user's)
  define(
    {
      method: "post",
      path: "/api/v1/memories",
      summary: "Add a memory",
      tags: TAGS,
      scope: "memories:write",
      idempotent: true,
      body: { schema: NewMemory, contentTypes: ["application/json"], mismatch: "invalid" },
      responses: {
        200: json("Merged into (or replaced) an existing memory: a new version of it", Memory),
        201: json("Added", Memory),
        ...problems(400, 401, 403, 409, 413, 415, 422, 429, 503),
      },
    },
    async ({ c, services, principal, body }) => {
      const { memory, created } = await services.memories.add(principal.tenant, body, { type: "api" }, principal.keyId);
      c.header("etag", `"${memory.version}"`);
      if (created) c.header("location", `/api/v1/memories/${memory.id}`);
      return reply(c, Memory, memory, created ? 201 : 200);
    },
  );

  // GET /api/v1/memories?userId=&cursor= – a user's memories, most recently changed first
  define(
    {
      method: "get",
      path: "/api/v1/memories",
      summary: "List a user's memories",
      tags: TAGS,
      scope: "memories:read",
      query: UserQuery.extend({
        limit: z.coerce.number().int().min(1).max(200).optional(),
        cursor: z.string().max(512).optional(),
      }),
      responses: { 200: json("A page of memories", MemoryPage), ...problems(400, 401, 403, 422, 429, 503) },
    },
    async ({ c, services, principal, query }) =>
      reply(c, MemoryPage, await services.memories.list(principal.tenant, query.userId, query)),
  );

  // DELETE /api/v1/memories?userId= – forget a user: every trace docs/memory.md lists
  define(
    {
      method: "delete",
      path: "/api/v1/memories",
      summary: "Forget a user",
      description:
        "Erases, from every tier and with their history, the user's memories, sessions and conversations (with " +
        "their profile vectors), OpenAI-door responses, LangGraph Store items under a namespace path holding the " +
        "user id, and idempotency replays that mention them; outbox events of those records are redacted. Also " +
        "needs agents:invoke, since it removes sessions. 204 whether or not anything was found.",
      tags: TAGS,
      scope: "memories:write",
      query: UserQuery,
      responses: { 204: { description: "Forgotten" }, ...problems(400, 401, 403, 429, 503) },
    },
    async ({ c, services, principal, query }) => {
      if (!grants(principal.scopes, "agents:invoke"))
        throw new HttpError("forbidden", "forgetting a user also deletes their sessions: the key needs agents:invoke", {
          requiredScope: "agents:invoke",
        });
      const forgotten = await services.forgetting.forget(principal.tenant, query.userId);
      services.log.info("user forgotten", { tenant: principal.tenant, keyId: principal.keyId, ...forgotten });
      return c.body(null, 204);
    },
  );

  // GET /api/v1/memories/export?userId= – every memory of a user
  define(
    {
      method: "get",
      path: "/api/v1/memories/export",
      summary: "Export a user's memories",
      tags: TAGS,
      scope: "memories:read",
      query: UserQuery,
      responses: {
        200: json(
          "All of the user's memories (at most 10 000)",
          z.object({ userId: z.string(), memories: z.array(Memory) }),
        ),
        ...problems(400, 401, 403, 429, 503),
      },
    },
    async ({ c, services, principal, query }) => {
      c.header("content-disposition", `attachment; filename="memories.json"`);
      return c.json({ userId: query.userId, memories: await services.memories.export(principal.tenant, query.userId) });
    },
  );

  // POST /api/v1/memories/search – a user's memories most relevant to a query
  define(
    {
      method: "post",
      path: "/api/v1/memories/search",
      summary: "Search a user's memories",
      tags: TAGS,
      scope: "memories:read",
      description:
        "Hybrid: PostgreSQL full-text ranking (the query's words OR-ed, English stemming) fused with an exact " +
        "cosine scan of the user's vectors by reciprocal rank; memories sharing a stemmed word with the query first.",
      body: { schema: SearchRequest, contentTypes: ["application/json"], mismatch: "invalid" },
      responses: { 200: json("Best first", SearchResult), ...problems(400, 401, 403, 415, 422, 429, 503) },
    },
    async ({ c, services, principal, body }) => {
      const hits = await services.memories.search(principal.tenant, body);
      return reply(c, SearchResult, searchResult(hits));
    },
  );

  // GET /api/v1/memories/{id}
  define(
    {
      method: "get",
      path: "/api/v1/memories/{id}",
      summary: "A memory",
      tags: TAGS,
      scope: "memories:read",
      params: IdParams,
      responses: { 200: json("The memory; ETag: its version", Memory), ...problems(401, 403, 404, 429, 503) },
    },
    async ({ c, services, principal, params }) => {
      const memory = await services.memories.get(principal.tenant, params.id);
      c.header("etag", `"${memory.version}"`);
      return reply(c, Memory, memory);
    },
  );

  // PATCH /api/v1/memories/{id} – change its text, kind or expiry
  define(
    {
      method: "patch",
      path: "/api/v1/memories/{id}",
      summary: "Change a memory",
      tags: TAGS,
      scope: "memories:write",
      params: IdParams,
      headers: WriteHeaders.pick({ "if-match": true }),
      body: { schema: MemoryChange, contentTypes: ["application/json"], mismatch: "invalid" },
      responses: {
        200: json("Changed: a new version", Memory),
        ...problems(400, 401, 403, 404, 412, 413, 415, 422, 429, 503),
      },
    },
    async ({ c, services, principal, params, body }) => {
      const pre = await resolvePrecondition(c, services, ref(principal.tenant, params.id));
      const memory = await services.memories.update(principal.tenant, params.id, body, {
        ifVersion: pre.ifVersion,
        actor: principal.keyId,
      });
      c.header("etag", `"${memory.version}"`);
      return reply(c, Memory, memory);
    },
  );

  // DELETE /api/v1/memories/{id}
  define(
    {
      method: "delete",
      path: "/api/v1/memories/{id}",
      summary: "Delete a memory",
      tags: TAGS,
      scope: "memories:write",
      params: IdParams,
      headers: WriteHeaders.pick({ "if-match": true }),
      responses: { 204: { description: "Deleted" }, ...problems(401, 403, 404, 412, 429, 503) },
    },
    async ({ c, services, principal, params }) => {
      const pre = await resolvePrecondition(c, services, ref(principal.tenant, params.id));
      await services.memories.delete(principal.tenant, params.id, { ifVersion: pre.ifVersion, actor: principal.keyId });
      return c.body(null, 204);
    },
  );
}

const ref = (tenant: string, id: string) => ({ tenant, namespace: MEMORIES_NAMESPACE, key: id });

const TenantParam = z.object({ tenant: pathParam("tenant", { max: 64 }) });
const MemoryUsers = z
  .object({
    tenant: z.string(),
    users: z.array(
      z.object({
        userId: z.string(),
        memories: z.number().int(),
        bytes: z.number().int(),
        lastUpdatedAt: z.string(),
      }),
    ),
  })
  .openapi("AdminMemoryUsers");

/**
 * The dashboard's Memories page: a tenant's users with memories, a user's memories and a search of them.
 * A tenant admin sees its own tenant (404 for another); a platform admin any. Versions: the admin state
 * routes (`/api/v1/admin/state/{tenant}/memories/{id}/history`).
 */
export function registerAdminMemoryRoutes({ define }: RouteKit): void {
  // GET /api/v1/admin/memories/{tenant} – users with memories, most first
  define(
    {
      method: "get",
      path: "/api/v1/admin/memories/{tenant}",
      summary: "A tenant's users with memories",
      tags: ["admin"],
      scope: "admin",
      params: TenantParam,
      responses: {
        200: json("At most 200 users, most memories first", MemoryUsers),
        ...problems(401, 403, 404, 429, 503),
      },
    },
    async ({ c, services, principal, params }) => {
      const tenant = visibleTenant(principal, params.tenant);
      const users = await services.memories.users(tenant);
      return reply(c, MemoryUsers, {
        tenant,
        users: users.map((u) => ({ ...u, lastUpdatedAt: u.lastUpdatedAt.toISOString() })),
      });
    },
  );

  // GET /api/v1/admin/memories/{tenant}/list?userId= – a user's memories
  define(
    {
      method: "get",
      path: "/api/v1/admin/memories/{tenant}/list",
      summary: "A user's memories (any tenant: platform admins)",
      tags: ["admin"],
      scope: "admin",
      params: TenantParam,
      query: UserQuery.extend({
        limit: z.coerce.number().int().min(1).max(200).optional(),
        cursor: z.string().max(512).optional(),
      }),
      responses: { 200: json("A page of memories", MemoryPage), ...problems(400, 401, 403, 404, 422, 429, 503) },
    },
    async ({ c, services, principal, params, query }) =>
      reply(c, MemoryPage, await services.memories.list(visibleTenant(principal, params.tenant), query.userId, query)),
  );

  // POST /api/v1/admin/memories/{tenant}/search – search a user's memories
  define(
    {
      method: "post",
      path: "/api/v1/admin/memories/{tenant}/search",
      summary: "Search a user's memories (any tenant: platform admins)",
      tags: ["admin"],
      scope: "admin",
      params: TenantParam,
      body: { schema: SearchRequest, contentTypes: ["application/json"], mismatch: "invalid" },
      responses: { 200: json("Best first", SearchResult), ...problems(400, 401, 403, 404, 415, 422, 429, 503) },
    },
    async ({ c, services, principal, params, body }) => {
      const hits = await services.memories.search(visibleTenant(principal, params.tenant), body);
      return reply(c, SearchResult, searchResult(hits));
    },
  );
}
