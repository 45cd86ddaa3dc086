// Values and types the server and the dashboard (app/) both use. No imports: a client component may
// import this file, and nothing server-side (drivers, node: modules) may reach the browser bundle.

/**
 * An API key's scopes. agents:manage: defining a tenant's agents (agents:invoke uses them). checkpoints:read:
 * reading LangGraph checkpoints through the state API (nothing else writes or reads them over HTTP). admin:
 * every other scope, within the key's own tenant. platform:admin: admin across every tenant (the bootstrap
 * key and STATEHOUSE_ADMIN_TOKEN hold it; only a key holding it can grant it). server/http/access.ts.
 */
export const SCOPES = [
  "state:read",
  "state:write",
  "agents:invoke",
  "agents:manage",
  "memories:read",
  "memories:write",
  "workflows:run",
  "checkpoints:read",
  "admin",
  "platform:admin",
] as const;
export type Scope = (typeof SCOPES)[number];

/** A workflow run's states, in the order a run moves through them. */
export const RUN_STATUSES = ["queued", "running", "cancelling", "succeeded", "failed", "cancelled"] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** The windows GET /api/v1/admin/metrics computes its numbers over. */
export const METRIC_WINDOWS = ["15m", "1h", "6h"] as const;
export type MetricWindow = (typeof METRIC_WINDOWS)[number];
