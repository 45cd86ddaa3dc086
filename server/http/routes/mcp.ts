// POST /api/mcp: the Model Context Protocol over Streamable HTTP, stateless (a server and transport per
// request, JSON answers), through the same route definition as every other route: the key authenticates
// (Authorization: Bearer), rate limits and body limits apply, and each tool checks its own scope.
import { z } from "@hono/zod-openapi";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import type { Context } from "hono";
import { mcpServerFor } from "../../mcp/tools";
import { HttpError } from "../problem";
import { problems, type RouteKit } from "./kit";
import { readFileSync } from "node:fs";
import path from "node:path";

export const MCP_PATH = "/api/mcp";

let version: string | undefined;
const serverVersion = () =>
  (version ??= (JSON.parse(readFileSync(path.resolve("package.json"), "utf8")) as { version: string }).version);

/**
 * A browser page of another site must not drive a user's local agent host against this server (DNS
 * rebinding): a request that carries an Origin must come from this server's own origin or one the
 * operator allows (STATEHOUSE_MCP_ALLOWED_ORIGINS). Non-browser clients send no Origin.
 */
function assertOrigin(c: Context, allowed: string | undefined): void {
  const origin = c.req.header("origin");
  if (origin === undefined) return;
  const own = new URL(c.req.url).origin;
  const listed = (allowed ?? "").split(",").map((o) => o.trim().replace(/\/$/, ""));
  if (origin !== own && !listed.includes(origin))
    throw new HttpError("forbidden", `requests from origin ${origin.slice(0, 200)} are not allowed on ${MCP_PATH}`);
}

export function registerMcpRoutes({ define }: RouteKit): void {
  define(
    {
      method: "post",
      path: MCP_PATH,
      summary: "Model Context Protocol (Streamable HTTP, stateless)",
      tags: ["mcp"],
      scope: "any",
      description:
        "JSON-RPC messages of MCP: initialize, tools/list, tools/call. Tools: add_memory, search_memories, " +
        "delete_memory (memories:read / memories:write), get_state, list_state (state:read), put_state " +
        "(state:write); each checks the key's scope and answers isError with the error's code when refused.",
      body: {
        schema: z.unknown().openapi({ description: "One JSON-RPC message (batches are refused: 400)" }),
        contentTypes: ["application/json"],
      },
      responses: {
        200: { description: "JSON-RPC responses", content: { "application/json": { schema: z.unknown() } } },
        202: { description: "Accepted (notifications only)" },
        ...problems(400, 401, 403, 406, 413, 415, 429, 503),
      },
    },
    async ({ c, services, principal, body }) => {
      assertOrigin(c, services.config.STATEHOUSE_MCP_ALLOWED_ORIGINS);
      // One message per request (MCP 2025-06-18 has no batches): a batch of 100 searches would cost 100
      // requests' work for one request's rate-limit token.
      if (Array.isArray(body))
        throw new HttpError("malformed", "send one JSON-RPC message per request; batches are not accepted");
      const server = mcpServerFor(services, principal, serverVersion());
      const transport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: true,
      });
      await server.connect(transport);
      try {
        return await transport.handleRequest(c.req.raw, { parsedBody: body });
      } finally {
        await server.close();
      }
    },
  );
}
