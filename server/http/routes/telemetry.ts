import { z } from "@hono/zod-openapi";
import { METRIC_WINDOWS } from "../../shared/types";
import { adminMetrics } from "../../telemetry/admin-metrics";
import { AdminMetrics } from "../admin-schemas";
import { json, problems, type RouteKit, reply } from "./kit";

export function registerTelemetryRoutes({ define }: RouteKit): void {
  // GET /api/v1/admin/metrics – the dashboard's numbers for a window, from the in-process time series.
  // platform:admin: the series carry no tenant, so they are every tenant's traffic and storage together.
  define(
    {
      method: "get",
      path: "/api/v1/admin/metrics",
      summary: "Operational metrics for a window",
      tags: ["admin"],
      scope: "platform:admin",
      query: z.object({
        window: z.enum(METRIC_WINDOWS).optional().openapi({ description: "15m, 1h (default) or 6h" }),
      }),
      responses: {
        200: json(
          "Latency percentiles per tier and operation, hit ratios, conflicts, throughput, errors, storage over time",
          AdminMetrics,
        ),
        ...problems(400, 401, 403, 429),
      },
    },
    async ({ c, services, query }) => {
      c.header("cache-control", "no-store");
      return reply(c, AdminMetrics, adminMetrics(services.telemetry.timeSeries, query.window ?? "1h"));
    },
  );
}
