import { z } from "@hono/zod-openapi";
import { RUN_STATUSES as STATUSES } from "../../shared/types";
import { visibleTenant, visibleTenants } from "../access";
import { json, problems, type RouteKit, reply, pathParam } from "./kit";

const RunParams = z.object({
  runId: pathParam("runId", { max: 64, example: "run_0123456789abcdefghij" }),
});
const StartBody = z
  .object({
    type: z.string().max(64).openapi({
      description: "A declared workflow type: `plan` or `document-analysis`",
      example: "document-analysis",
    }),
    input: z
      .unknown()
      .optional()
      .openapi({ description: "The type's input (validated by the type: 422 when invalid, 413 when too large)" }),
  })
  .openapi("StartWorkflowRequest");
const Started = z.object({ runId: z.string(), status: z.string() }).openapi("WorkflowStarted");
const Checkpoint = z
  .object({
    step: z.number().int(),
    name: z.string(),
    attempt: z.number().int(),
    worker: z.string(),
    durationMs: z.number(),
    completedAt: z.string(),
  })
  .openapi("WorkflowCheckpoint");
const Run = z
  .object({
    runId: z.string(),
    type: z.string(),
    status: z.enum(STATUSES),
    step: z
      .number()
      .int()
      .openapi({ description: "The step being worked on (1-based), or the last one once finished" }),
    totalSteps: z.number().int(),
    completedSteps: z.number().int(),
    progress: z.number().openapi({ description: "completedSteps / totalSteps" }),
    attempts: z
      .number()
      .int()
      .openapi({ description: "Attempts of all steps so far (retries and crashed attempts included)" }),
    stepAttempts: z.number().int().openapi({ description: "Failed or interrupted attempts of the current step" }),
    maxAttempts: z.number().int(),
    resumes: z
      .number()
      .int()
      .openapi({ description: "Times another worker resumed the run after its worker's lease expired" }),
    cancelRequested: z.boolean(),
    worker: z.string().nullable(),
    leaseExpiresAt: z.string().nullable(),
    checkpoints: z.array(Checkpoint),
    result: z.unknown(),
    error: z.object({ step: z.number().int(), message: z.string() }).nullable(),
    lastError: z.string().nullable(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    updatedAt: z.string(),
    version: z.number().int(),
  })
  .openapi("WorkflowRun");
const TenantField = { tenant: z.string().openapi({ description: "The tenant the run belongs to" }) };
const AdminRunList = z
  .object({ runs: z.array(Run.omit({ checkpoints: true, result: true }).extend(TenantField)) })
  .openapi("AdminWorkflowRunList");
const AdminRun = Run.extend({
  ...TenantField,
  input: z.unknown().openapi({ description: "The run's input, as validated when it started" }),
}).openapi("AdminWorkflowRun");

export function registerWorkflowRoutes({ define }: RouteKit): void {
  // POST /api/v1/workflows – start a run; a worker picks it up
  define(
    {
      method: "post",
      path: "/api/v1/workflows",
      summary: "Start a workflow run",
      tags: ["workflows"],
      scope: "workflows:run",
      idempotent: true,
      body: { schema: StartBody, contentTypes: ["application/json"] },
      responses: {
        202: json("Accepted: queued for a worker", Started),
        ...problems(400, 401, 403, 409, 413, 415, 422, 429, 503),
      },
    },
    async ({ c, services, principal, body }) => {
      const run = await services.workflows.start(principal.tenant, body.type, body.input, principal.keyId);
      c.header("location", `/api/v1/workflows/${run.value.runId}`);
      return reply(c, Started, { runId: run.value.runId, status: run.value.status }, 202);
    },
  );

  // GET /api/v1/workflows/{runId} – status, step, progress, attempts, checkpoints, result or error
  define(
    {
      method: "get",
      path: "/api/v1/workflows/{runId}",
      summary: "A workflow run's status",
      tags: ["workflows"],
      scope: "workflows:run",
      params: RunParams,
      responses: { 200: json("The run", Run), ...problems(401, 403, 404, 429, 503) },
    },
    async ({ c, services, principal, params }) => {
      const run = await services.workflows.getOrThrow(principal.tenant, params.runId);
      c.header("etag", `"${run.version}"`);
      c.header("cache-control", "no-store");
      return reply(c, Run, services.workflows.view(run));
    },
  );

  // POST /api/v1/workflows/{runId}/cancel – stop at the next step boundary
  define(
    {
      method: "post",
      path: "/api/v1/workflows/{runId}/cancel",
      summary: "Cancel a workflow run",
      tags: ["workflows"],
      scope: "workflows:run",
      params: RunParams,
      idempotent: true,
      responses: {
        202: json(
          "`cancelled` at once when no worker holds the run, else `cancelling` until the next step boundary",
          Run,
        ),
        ...problems(401, 403, 404, 409, 429, 503),
      },
    },
    async ({ c, services, principal, params }) => {
      const run = await services.workflows.cancel(principal.tenant, params.runId, principal.keyId);
      return reply(c, Run, services.workflows.view(run), 202);
    },
  );
}

const AdminRunParams = RunParams.extend({
  tenant: pathParam("tenant", { max: 64 }),
});

/** What operators see in the dashboard: runs (every tenant's for a platform admin, else its own) and each run's checkpoints. */
export function registerAdminWorkflowRoutes({ define }: RouteKit): void {
  // GET /api/v1/admin/workflows – recent runs of every tenant (a tenant admin: its own), newest change first
  define(
    {
      method: "get",
      path: "/api/v1/admin/workflows",
      summary: "Recent workflow runs",
      tags: ["admin"],
      scope: "admin",
      query: z.object({
        status: z.enum(STATUSES).optional(),
        limit: z.coerce.number().int().min(1).max(500).optional(),
      }),
      responses: { 200: json("Runs with status and progress", AdminRunList), ...problems(400, 401, 403, 429, 503) },
    },
    async ({ c, services, principal, query }) => {
      const runs = await services.workflows.recent({
        status: query.status,
        limit: query.limit,
        tenant: visibleTenants(principal),
      });
      c.header("cache-control", "no-store");
      return reply(c, AdminRunList, {
        runs: runs.map((r) => {
          const { checkpoints: _c, result: _r, ...summary } = services.workflows.view(r);
          return { tenant: r.tenant, ...summary };
        }),
      });
    },
  );

  // GET /api/v1/admin/workflows/{tenant}/{runId} – one run with its input and checkpoints
  define(
    {
      method: "get",
      path: "/api/v1/admin/workflows/{tenant}/{runId}",
      summary: "A workflow run with its checkpoints",
      tags: ["admin"],
      scope: "admin",
      params: AdminRunParams,
      responses: { 200: json("The run", AdminRun), ...problems(401, 403, 404, 429, 503) },
    },
    async ({ c, services, principal, params }) => {
      const run = await services.workflows.getOrThrow(visibleTenant(principal, params.tenant), params.runId);
      c.header("cache-control", "no-store");
      return reply(c, AdminRun, { tenant: run.tenant, ...services.workflows.view(run), input: run.value.input });
    },
  );
}
