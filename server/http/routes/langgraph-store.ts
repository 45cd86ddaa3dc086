// LangGraph's Store API at /api/langgraph/store, what `new Client({ apiUrl: "<server>/api/langgraph" })`
// of @langchain/langgraph-sdk calls (it sends the key as X-Api-Key). The protocol's details are kept:
// GET takes the namespace dot-joined and answers a missing item with 200 null, DELETE carries a JSON
// body, ttl is in minutes. Scopes memories:read and memories:write.
import { z } from "@hono/zod-openapi";
import { validateNamespace } from "../../langgraph/store";
import { json, problems, type RouteKit } from "./kit";

export const LANGGRAPH_BASE = "/api/langgraph";

const Labels = z.array(z.string()).max(10);
const ItemKey = z.string().min(1).max(256);
const Item = z
  .object({
    namespace: z.array(z.string()),
    key: z.string(),
    value: z.unknown().openapi({ description: "The item's value: the JSON object that was put" }),
    created_at: z.string(),
    updated_at: z.string(),
    score: z.number().optional().openapi({ description: "With a query: the hybrid search's score" }),
  })
  .openapi("StoreItem");
const Filter = z
  .record(z.string().max(64), z.union([z.string(), z.number(), z.boolean(), z.null()]))
  .refine((f) => Object.keys(f).length <= 16, "at most 16 fields")
  .openapi({ description: "Top-level fields of the value that must equal these (strings, numbers, booleans, null)" });

const door = { tags: ["langgraph"], apiKeyHeader: true };

export function registerLangGraphStoreRoutes({ define }: RouteKit): void {
  // PUT /api/langgraph/store/items – create or replace an item
  define(
    {
      ...door,
      method: "put",
      path: `${LANGGRAPH_BASE}/store/items`,
      summary: "Put a store item",
      scope: "memories:write",
      body: {
        schema: z
          .object({
            namespace: Labels,
            key: ItemKey,
            value: z.record(z.string(), z.unknown()),
            index: z
              .union([z.literal(false), z.array(z.string().max(256)).max(16), z.null()])
              .optional()
              .openapi({
                description: "Fields to index for search (dotted paths); false: not searchable; default: all",
              }),
            ttl: z
              .number()
              .positive()
              .max(5_256_000)
              .nullable()
              .optional()
              .openapi({ description: "Minutes (sliding)" }),
          })
          .openapi("StorePut"),
        contentTypes: ["application/json"],
        mismatch: "invalid",
      },
      responses: { 204: { description: "Stored" }, ...problems(400, 401, 403, 413, 415, 422, 429, 503) },
    },
    async ({ c, services, principal, body }) => {
      await services.langgraphStore.put(
        principal.tenant,
        {
          namespace: validateNamespace(body.namespace, "namespace"),
          key: body.key,
          value: body.value,
          index: body.index,
          ttlMinutes: body.ttl,
        },
        principal.keyId,
      );
      return c.body(null, 204);
    },
  );

  // GET /api/langgraph/store/items?namespace=a.b&key= – an item, or null
  define(
    {
      ...door,
      method: "get",
      path: `${LANGGRAPH_BASE}/store/items`,
      summary: "Get a store item",
      scope: "memories:read",
      query: z.object({
        namespace: z.string().max(1024).openapi({ description: "The namespace path, labels joined with '.'" }),
        key: ItemKey,
        refresh_ttl: z.enum(["true", "false"]).optional(),
      }),
      responses: {
        200: json("The item, or null when there is none", Item.nullable()),
        ...problems(401, 403, 422, 429, 503),
      },
    },
    async ({ c, services, principal, query }) =>
      c.json(
        await services.langgraphStore.get(
          principal.tenant,
          validateNamespace(query.namespace.split("."), "namespace"),
          query.key,
          query.refresh_ttl !== "false",
        ),
      ),
  );

  // DELETE /api/langgraph/store/items – body {namespace, key}
  define(
    {
      ...door,
      method: "delete",
      path: `${LANGGRAPH_BASE}/store/items`,
      summary: "Delete a store item",
      scope: "memories:write",
      body: {
        schema: z.object({ namespace: Labels, key: ItemKey }).openapi("StoreDelete"),
        contentTypes: ["application/json"],
        mismatch: "invalid",
      },
      responses: {
        204: { description: "Deleted (or there was none)" },
        ...problems(400, 401, 403, 415, 422, 429, 503),
      },
    },
    async ({ c, services, principal, body }) => {
      await services.langgraphStore.delete(
        principal.tenant,
        validateNamespace(body.namespace, "namespace"),
        body.key,
        principal.keyId,
      );
      return c.body(null, 204);
    },
  );

  // POST /api/langgraph/store/items/search – items under a namespace prefix, by query or newest first
  define(
    {
      ...door,
      method: "post",
      path: `${LANGGRAPH_BASE}/store/items/search`,
      summary: "Search store items",
      scope: "memories:read",
      description:
        "With query: the hybrid search of long-term memories (full text OR-ed with stemming, fused with an exact " +
        "cosine scan over at most 10 000 items under the prefix). Without: most recently changed first.",
      body: {
        schema: z
          .object({
            namespace_prefix: Labels.default([]),
            filter: Filter.nullable().optional(),
            limit: z.number().int().min(1).max(1000).default(10),
            offset: z.number().int().min(0).max(10_000).default(0),
            query: z.string().max(2000).nullable().optional(),
            refresh_ttl: z.boolean().nullable().optional(),
          })
          .openapi("StoreSearch"),
        contentTypes: ["application/json"],
        mismatch: "invalid",
      },
      responses: {
        200: json("Items", z.object({ items: z.array(Item) }).openapi("StoreSearchResult")),
        ...problems(400, 401, 403, 415, 422, 429, 503),
      },
    },
    async ({ c, services, principal, body }) => {
      const items = await services.langgraphStore.search(principal.tenant, {
        prefix: validateNamespace(body.namespace_prefix, "namespace_prefix", true),
        filter: body.filter ?? {},
        limit: body.limit,
        offset: body.offset,
        query: body.query ?? undefined,
      });
      return c.json({ items });
    },
  );

  // POST /api/langgraph/store/namespaces – namespace paths in use
  define(
    {
      ...door,
      method: "post",
      path: `${LANGGRAPH_BASE}/store/namespaces`,
      summary: "List store namespaces",
      scope: "memories:read",
      body: {
        schema: z
          .object({
            prefix: Labels.nullable().optional(),
            suffix: Labels.nullable().optional(),
            max_depth: z.number().int().min(1).max(10).nullable().optional(),
            limit: z.number().int().min(1).max(1000).default(100),
            offset: z.number().int().min(0).max(10_000).default(0),
          })
          .openapi("StoreNamespaces"),
        contentTypes: ["application/json"],
        mismatch: "invalid",
      },
      responses: {
        200: json(
          "Namespace paths",
          z.object({ namespaces: z.array(z.array(z.string())) }).openapi("StoreNamespaceList"),
        ),
        ...problems(400, 401, 403, 415, 422, 429, 503),
      },
    },
    async ({ c, services, principal, body }) =>
      c.json({
        namespaces: await services.langgraphStore.namespaces(principal.tenant, {
          prefix: validateNamespace(body.prefix ?? [], "prefix", true),
          suffix: body.suffix ? validateNamespace(body.suffix, "suffix", true) : undefined,
          maxDepth: body.max_depth ?? undefined,
          limit: body.limit,
          offset: body.offset,
        }),
      }),
  );
}
