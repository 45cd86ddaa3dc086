// The MCP door's tools: a tenant's memories and state, for agent hosts that speak the Model Context
// Protocol. One server per request (stateless Streamable HTTP), built for the caller's key: every tool
// acts in the key's tenant and checks the key's scopes, and the state tools pass the same namespace
// check as the state API. Results are JSON text; a refusal or failure is a result with isError.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import type { Principal, Scope } from "../auth/api-keys";
import { grants } from "../http/access";
import { assertNamespaceAccess, type NamespaceAccess } from "../http/namespace-access";
import { errorParts, HttpError } from "../http/problem";
import type { ApiServices } from "../http/services";
import { MAX_SEARCH_RESULTS, MEMORY_KINDS, USER_ID } from "../memories/memories";
import { LIMITS } from "../state/store";

type McpServices = Pick<ApiServices, "memories" | "state" | "namespaces" | "tenantPolicies">;

const userId = z.string().regex(USER_ID).describe("The end user, as the tenant names them");
const namespace = z.string().min(1).max(64).describe("A namespace, e.g. kv (GET /api/v1/namespaces lists them)");
const key = z.string().min(1).max(LIMITS.maxKeyBytes);

/** JSON text content: what every tool answers. */
const result = (value: unknown): CallToolResult => ({ content: [{ type: "text", text: JSON.stringify(value) }] });

/**
 * An error as a tool result the model can read: the error table's code and status, the message, and
 * the details (a version conflict names `currentVersion`). Never a stack or a store's name.
 */
function failure(err: unknown): CallToolResult {
  const { code, status, detail, details } = errorParts(err);
  return {
    isError: true,
    content: [{ type: "text", text: JSON.stringify({ error: code, status, message: detail, ...details }) }],
  };
}

export function mcpServerFor(services: McpServices, principal: Principal, version: string): McpServer {
  const server = new McpServer({ name: "statehouse", version }, { capabilities: { tools: {} } });
  const tenant = principal.tenant;
  const need = (scope: Scope) => {
    if (!grants(principal.scopes, scope))
      throw new HttpError("forbidden", `this key lacks the ${scope} scope`, { requiredScope: scope });
  };
  const reach = (access: NamespaceAccess, ns: string) =>
    assertNamespaceAccess(services.namespaces, principal, access, [ns]);
  /** A write counts against the tenant's daily operations quota and region pin, as the REST call would. */
  const admit = (operation: string, ns?: string, k?: string) =>
    services.tenantPolicies.admitCall(tenant, {
      operations: 1,
      operation,
      namespace: ns,
      key: k,
      actor: principal.keyId,
    });
  const tool = <S extends z.ZodRawShape>(
    name: string,
    description: string,
    inputSchema: S,
    run: (args: z.infer<z.ZodObject<S>>) => Promise<unknown>,
  ) =>
    server.registerTool(name, { description, inputSchema }, (async (args: z.infer<z.ZodObject<S>>) => {
      try {
        return result(await run(args));
      } catch (err) {
        return failure(err);
      }
    }) as never);

  tool(
    "add_memory",
    "Remember something about a user for later sessions (scope memories:write). A near-duplicate of a memory " +
      "the user has is merged into it. Answers the memory.",
    { userId, text: z.string().min(1).max(2000), kind: z.enum(MEMORY_KINDS).optional() },
    async (a) => {
      need("memories:write");
      await admit("MCP add_memory");
      const { memory, created } = await services.memories.add(tenant, a, { type: "mcp" }, principal.keyId);
      return { ...memory, created };
    },
  );
  tool(
    "search_memories",
    "A user's memories most relevant to a query, best first (scope memories:read).",
    { userId, query: z.string().min(1).max(2000), limit: z.number().int().min(1).max(MAX_SEARCH_RESULTS).optional() },
    async (a) => {
      need("memories:read");
      const hits = await services.memories.search(tenant, a);
      return { results: hits.map((h) => ({ ...h.memory, score: h.score, matched: h.matched })) };
    },
  );
  tool(
    "delete_memory",
    "Forget one memory of a user (scope memories:write).",
    { userId, id: z.string().min(1).max(64) },
    async (a) => {
      need("memories:write");
      const memory = await services.memories.get(tenant, a.id);
      // Another user's memory is as absent as an unknown one.
      if (memory.userId !== a.userId) throw new HttpError("not_found", `no memory ${a.id} of user ${a.userId}`);
      await admit("MCP delete_memory");
      await services.memories.delete(tenant, a.id, { actor: principal.keyId });
      return { deleted: a.id };
    },
  );
  tool("get_state", "A state record: value, version, expiry (scope state:read).", { namespace, key }, async (a) => {
    need("state:read");
    reach("read", a.namespace);
    const r = await services.state.getOrThrow({ tenant, namespace: a.namespace, key: a.key });
    return {
      namespace: a.namespace,
      key: a.key,
      value: r.value,
      version: r.version,
      updatedAt: r.updatedAt.toISOString(),
      expiresAt: r.expiresAt?.toISOString() ?? null,
    };
  });
  tool(
    "put_state",
    "Write a state record (scope state:write). With ifMatch (a version), only if the record is still at that " +
      "version: otherwise an error naming the current version.",
    {
      namespace,
      key,
      value: z.unknown().describe("Any JSON value"),
      ifMatch: z.number().int().min(1).max(LIMITS.maxVersion).optional().describe("The version you read"),
    },
    async (a) => {
      need("state:write");
      reach("write", a.namespace);
      if (a.value === undefined) throw new HttpError("invalid", "value is required", { field: "value" });
      await admit("MCP put_state", a.namespace, a.key);
      const { record, created } = await services.state.put({ tenant, namespace: a.namespace, key: a.key }, a.value, {
        ifVersion: a.ifMatch,
        actor: principal.keyId,
      });
      return { namespace: a.namespace, key: a.key, version: record.version, created };
    },
  );
  tool(
    "list_state",
    "Keys of a namespace, optionally under a prefix (scope state:read); nextCursor continues.",
    { namespace, prefix: z.string().max(LIMITS.maxKeyBytes).optional(), cursor: z.string().max(2048).optional() },
    async (a) => {
      need("state:read");
      reach("read", a.namespace);
      const page = await services.state.list(tenant, a.namespace, { prefix: a.prefix, cursor: a.cursor, limit: 100 });
      return {
        keys: page.items.map((i) => ({ key: i.key, version: i.version, updatedAt: i.updatedAt.toISOString() })),
        nextCursor: page.nextCursor ?? null,
      };
    },
  );
  return server;
}
