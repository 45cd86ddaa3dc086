// The baseline for the HTTP scenarios: the same engine calls Statehouse's API makes (state read, agent
// turn), behind a bare node:http server — no auth, rate limit, validation, routing or request metrics.
import { createServer, type IncomingMessage } from "node:http";
import { loadConfig } from "../../server/config";
import { buildServices } from "../../server/container";

const services = await buildServices(loadConfig());
const TENANT = "default";

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

const server = createServer(async (req, res) => {
  try {
    const parts = (req.url ?? "/").split("?")[0]!.split("/").filter(Boolean);
    if (req.method === "GET" && parts[0] === "state" && parts.length === 3) {
      const r = await services.state.getOrThrow({ tenant: TENANT, namespace: parts[1]!, key: parts[2]! });
      res.writeHead(200, { "content-type": "application/json", etag: `"${r.version}"` });
      res.end(
        JSON.stringify({
          namespace: r.namespace,
          key: r.key,
          version: r.version,
          value: r.value,
          schemaVersion: r.schemaVersion,
          createdAt: r.createdAt,
          updatedAt: r.updatedAt,
          expiresAt: r.expiresAt,
          sizeBytes: r.sizeBytes,
        }),
      );
    } else if (req.method === "POST" && parts[0] === "sessions" && parts.length === 1) {
      const s = await services.agents.createSession(TENANT, "assistant");
      res.writeHead(201, { "content-type": "application/json" });
      res.end(JSON.stringify({ sessionId: s.sessionId }));
    } else if (req.method === "POST" && parts[0] === "sessions" && parts[2] === "messages") {
      const { content } = JSON.parse(await body(req)) as { content: string };
      const turn = await services.agents.message(TENANT, "assistant", parts[1]!, content);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(turn));
    } else {
      res.writeHead(404).end();
    }
  } catch (err) {
    res.writeHead((err as { code?: string }).code === "not_found" ? 404 : 500).end();
  }
});
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ listening: typeof address === "object" && address ? address.port : 0 })}\n`);
});
process.on("SIGTERM", () => {
  server.close();
  server.closeAllConnections();
  void services.close().finally(() => process.exit(0));
});
