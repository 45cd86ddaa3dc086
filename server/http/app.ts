import { Hono } from "hono";
import type { Services } from "../container";

/**
 * The HTTP API as Web-standard fetch handlers. The process's own server answers it directly
 * (server/main.ts); app/api/[...path]/route.ts mounts the same handlers under Next.js.
 */
export function createApi(services: Services): Hono {
  const api = new Hono();

  // GET /api/health – liveness: the process answers; no store is consulted.
  api.get("/api/health", (c) => c.json({ status: "ok" }));

  // GET /api/ready – each store's backend, status and circuit; 503 when the source of truth is down.
  api.get("/api/ready", async (c) => {
    const report = await services.readiness();
    c.header("Cache-Control", "no-store");
    return c.json(report, report.ready ? 200 : 503);
  });

  return api;
}
