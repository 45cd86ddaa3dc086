// The Statehouse server process: the API and the dashboard on one port.
import { createServer } from "node:http";
import { getRequestListener } from "@hono/node-server";
import next from "next";
import { runProcess } from "./bootstrap";
import { buildServices } from "./container";
import { createApi } from "./http/app";
import { logger } from "./logger";
import { provideServices } from "./runtime";

/**
 * The Statehouse process: one node:http server that answers the API (/api/*, /metrics) from fetch
 * handlers directly and hands every other path (pages, the dashboard) to Next.js in the same process.
 * A Next.js route handler costs over 1 ms of CPU per request here, ~20× a bare server (docs/operations.md: Two mounts, one API).
 */
runProcess(
  "statehouse",
  async (config) => {
    const services = await buildServices(config);
    provideServices(services); // the dashboard's pages, rendered by Next in this process, use the same services
    const api = getRequestListener(createApi(services).fetch);

    const dev = process.argv.includes("--dev");
    const pages = next({ dev, dir: process.cwd() });
    await pages.prepare();
    const handlePage = pages.getRequestHandler();

    // A whole request (headers and body) must arrive within STATEHOUSE_REQUEST_TIMEOUT_MS, else Node
    // answers 408 and closes the connection: a client trickling a body cannot hold a socket and a
    // handler for Node's default 300 s. Node only looks for expired requests every
    // connectionsCheckingInterval (30 s by default, which would let a 15 s limit run to 45 s), so check
    // every second: the check walks the open connections' timestamps, cheap at this rate.
    const server = createServer(
      {
        requestTimeout: config.STATEHOUSE_REQUEST_TIMEOUT_MS,
        headersTimeout: config.STATEHOUSE_HEADERS_TIMEOUT_MS,
        connectionsCheckingInterval: Math.min(1000, config.STATEHOUSE_HEADERS_TIMEOUT_MS),
      },
      (req, res) => {
        const url = req.url ?? "/";
        if (url.startsWith("/api/") || url === "/metrics" || url.startsWith("/metrics?")) {
          void api(req, res);
        } else {
          void handlePage(req, res);
        }
      },
    );
    server.keepAliveTimeout = 65_000;
    server.listen(config.PORT, config.HOST, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : config.PORT;
      const ready = { hot: services.tiers.hot.name, warm: services.tiers.warm.name, cold: services.tiers.cold.name };
      logger.info("statehouse listening", {
        url: `http://${config.HOST === "0.0.0.0" ? "localhost" : config.HOST}:${port}`,
        port,
        stores: ready,
      });
    });
    return {
      async close() {
        server.close();
        server.closeAllConnections();
        await services.close();
      },
    };
  },
  { shutdownMs: 5000, stopping: "shutting down" },
);
