// The response schemas of the admin and telemetry routes: the OpenAPI document, the typed client
// (server/client) and the dashboard's types all come from these, and the handlers are checked against them.
import { z } from "@hono/zod-openapi";
import { METRIC_WINDOWS, SCOPES } from "../shared/types";

const TIER = z.enum(["hot", "warm", "cold"]);
const isoTime = (description?: string) => z.string().openapi({ format: "date-time", description });
/** Epoch milliseconds: the start of a step of the window (the charts' x axis). */
const stepTime = z.number().int().openapi({ description: "Start of the step, epoch milliseconds" });
const nullableNumber = (description: string) => z.number().nullable().openapi({ description });

export const ApiKey = z
  .object({
    id: z.string(),
    tenant: z.string(),
    name: z.string().nullable(),
    scopes: z.array(z.enum(SCOPES)),
    createdAt: isoTime(),
    revokedAt: isoTime().nullable(),
  })
  .openapi("ApiKey");
export const CreatedApiKey = ApiKey.extend({ key: z.string() }).openapi("CreatedApiKey");
export const ApiKeyList = z.object({ keys: z.array(ApiKey) }).openapi("ApiKeyList");

export const TenantList = z.object({ tenants: z.array(z.string()) }).openapi("TenantList");

export const AdminKeyPage = z
  .object({
    tenant: z.string(),
    namespace: z.string(),
    items: z.array(
      z.object({
        key: z.string(),
        version: z.number().int(),
        updatedAt: isoTime(),
        expiresAt: isoTime().nullable(),
        sizeBytes: z.number().int(),
      }),
    ),
    nextCursor: z.string().optional().openapi({ description: "Present when more keys may follow: pass as `cursor`" }),
  })
  .openapi("AdminKeyPage");

export const AdminRecord = z
  .object({
    tenant: z.string(),
    namespace: z.string(),
    key: z.string(),
    version: z.number().int(),
    value: z.unknown().openapi({ description: "The record's JSON value" }),
    schemaVersion: z.number().int(),
    tier: TIER.nullable().openapi({ description: "The tier that answered the read" }),
    createdAt: isoTime(),
    updatedAt: isoTime(),
    expiresAt: isoTime().nullable(),
    ttlSeconds: z.number().int().nullable().openapi({ description: "Seconds until expiry, rounded (null: none)" }),
    sizeBytes: z.number().int(),
    limits: z
      .object({ warn: z.number().int(), fail: z.number().int() })
      .openapi({ description: "The namespace's size limits in bytes: a warning over `warn`, refused over `fail`" }),
  })
  .openapi("AdminRecord");

/** One RFC 6902 operation of a version's diff from the one before. */
export const PatchOperation = z
  .object({
    op: z.string().openapi({ description: "add, remove, replace (as diffs are computed), move, copy or test" }),
    path: z.string(),
    from: z.string().optional(),
    value: z.unknown().optional(),
  })
  .openapi("PatchOperation");

export const AdminHistory = z
  .object({
    versions: z.array(
      z.object({
        version: z.number().int(),
        at: isoTime(),
        actor: z.string().nullable(),
        operation: z.enum(["put", "delete"]),
        value: z.unknown().openapi({ description: "The value as of this version (null for a delete)" }),
        patch: z.array(PatchOperation),
        sizeBytes: z.number().int(),
      }),
    ),
  })
  .openapi("AdminHistory");

export const OutboxEvent = z
  .object({
    id: z.string(),
    tenant: z.string(),
    namespace: z.string(),
    key: z.string(),
    version: z.number().int(),
    operation: z.string().openapi({ description: "The change: put or delete" }),
    createdAt: isoTime(),
    publishedAt: isoTime().nullable().openapi({ description: "Null while pending" }),
  })
  .openapi("OutboxEvent");

export const Outbox = z
  .object({
    pending: z.number().int().openapi({ description: "Events not yet published" }),
    lagSeconds: z.number().openapi({ description: "Age of the oldest pending event (0 when none)" }),
    publishers: z.array(z.string()).openapi({ description: "Where the relay publishes (e.g. redis-stream, webhook)" }),
    events: z.array(OutboxEvent).openapi({ description: "The newest events, newest first" }),
  })
  .openapi("Outbox");

export const AlertStatus = z
  .object({
    alert: z.string().openapi({ description: "The rule's name in grafana/prometheus/statehouse-rules.yml" }),
    severity: z.enum(["warning", "critical"]),
    summary: z.string(),
    state: z.enum(["firing", "inactive", "no_data"]),
    value: nullableNumber("The rule's expression now (null: no data)"),
    threshold: nullableNumber("The rule's threshold (null when Prometheus answered: its alerts carry none)"),
    source: z.enum(["in-process", "prometheus"]),
  })
  .openapi("AlertStatus");

export const Alerts = z
  .object({
    source: z.enum(["in-process", "prometheus"]).openapi({
      description: "prometheus when PROMETHEUS_URL answered; in-process: the rules evaluated against this process",
    }),
    alerts: z.array(AlertStatus),
  })
  .openapi("Alerts");

const Percentiles = {
  p50: nullableNumber("Seconds (null: no samples)"),
  p95: nullableNumber("Seconds (null: no samples)"),
  p99: nullableNumber("Seconds (null: no samples)"),
};

export const AdminMetrics = z
  .object({
    window: z.enum(METRIC_WINDOWS),
    from: isoTime(),
    to: isoTime(),
    stepSeconds: z.number().openapi({ description: "Width of each step of the *OverTime series" }),
    latency: z.array(
      z.object({
        tier: z.string().openapi({ description: "hot, warm, cold or tiered (what callers asked for)" }),
        operation: z.string(),
        count: z.number().int(),
        ...Percentiles,
        mean: nullableNumber("Seconds"),
      }),
    ),
    latencyOverTime: z.array(z.object({ t: stepTime, tier: z.string(), ...Percentiles })),
    hitRatio: z.array(
      z.object({ tier: z.string(), hits: z.number(), misses: z.number(), ratio: nullableNumber("0..1") }),
    ),
    hitRatioOverTime: z.array(z.object({ t: stepTime, tier: z.string(), ratio: nullableNumber("0..1") })),
    conflicts: z.object({ total: z.number(), perMinute: z.number().nullable() }),
    conflictsOverTime: z.array(z.object({ t: stepTime, perMinute: z.number().nullable() })),
    operations: z.object({ total: z.number(), perSecond: z.number().nullable() }),
    operationsOverTime: z.array(
      z.object({ t: stepTime, perSecond: z.number().nullable(), errorRate: nullableNumber("0..1") }),
    ),
    errors: z.object({ total: z.number(), rate: nullableNumber("Errors per operation, 0..1") }),
    storage: z.array(
      z.object({
        namespace: z.string(),
        tier: z.string(),
        points: z.array(z.object({ t: stepTime, bytes: z.number().nullable(), keys: z.number().nullable() })),
        trendBytesPerHour: nullableNumber("Least-squares slope of bytes (null: fewer than two points)"),
      }),
    ),
    lifecycle: z.array(
      z.object({
        namespace: z.string(),
        event: z.string().openapi({ description: "expired, archived, restored, …" }),
        count: z.number(),
      }),
    ),
  })
  .openapi("AdminMetrics");

export const Capacity = z
  .object({
    horizonSeconds: z.number().int().openapi({ description: "How far ahead `forecast` looks" }),
    windowSeconds: z.number().int().openapi({ description: "How far back the trend's samples reach" }),
    series: z.array(
      z.object({
        agent: z.string(),
        namespace: z.string(),
        active: z.number().int().openapi({ description: "Live sessions now" }),
        forecast: z.number().openapi({ description: "Live sessions expected at now + horizon" }),
        perHour: z.number().openapi({ description: "The trend, sessions per hour" }),
        samples: z.array(z.object({ at: isoTime(), active: z.number().int() })),
      }),
    ),
  })
  .openapi("Capacity");

// Domains declare their own namespaces (agents, workflows, checkpointer today), so the name is open.
const NamespaceOwner = z.string().openapi({ description: "The domain that writes the namespace, e.g. workflows" });

/** A namespace's policy as GET /api/v1/namespaces lists it (the upgraders and internal flag left out). */
export const NamespaceInfo = z
  .object({
    name: z.string(),
    kind: z.enum(["session", "process", "model", "system", "general"]),
    description: z.string(),
    durability: z.enum(["durable", "ephemeral"]),
    idleTtlSeconds: z.number().optional().openapi({ description: "Sliding expiry, refreshed on every access" }),
    archiveAfter: z
      .object({ idleSeconds: z.number() })
      .optional()
      .openapi({ description: "Records not written for this long are moved to the archive (when they qualify)" }),
    onExpire: z.enum(["delete", "archive"]),
    ttlSeconds: z.number().optional().openapi({ description: "Default absolute expiry of a write that names none" }),
    hotTtlSeconds: z.number().optional().openapi({ description: "How long a copy promoted from warm stays hot" }),
    maxBytes: z.object({ warn: z.number().int(), fail: z.number().int() }),
    windows: z.array(
      z.object({
        field: z.string(),
        maxItems: z.number().int(),
        maxBytes: z.number().int().optional(),
        summaryField: z.string().optional(),
        countField: z.string().optional(),
      }),
    ),
    schemaVersion: z.number().int(),
    writeBackUpgrades: z.boolean().optional(),
    consistency: z.enum(["eventual", "strong"]),
    requirePrecondition: z.boolean(),
    whenWarmDown: z.enum(["reject", "buffer"]),
    storageQuotaBytes: z.number().optional(),
    keepHistory: z.boolean().optional(),
    owner: z
      .object({ domain: NamespaceOwner, readScope: z.enum(SCOPES), use: z.string() })
      .optional()
      .openapi({ description: "Namespaces a domain writes: only its routes write them" }),
    access: z.object({
      read: z.array(z.enum(SCOPES)),
      write: z.array(z.enum(SCOPES)).nullable().openapi({ description: "null: owned by a domain" }),
      owner: NamespaceOwner.optional(),
      use: z.string().optional(),
    }),
  })
  .openapi("NamespaceInfo");
export const NamespaceList = z.object({ namespaces: z.array(NamespaceInfo) }).openapi("NamespaceList");

/** GET /api/ready (outside the versioned API, so not in the OpenAPI document; typed for the dashboard). */
export const ReadyReport = z.object({
  ready: z.boolean(),
  status: z.enum(["ready", "degraded", "unavailable"]),
  stores: z.array(
    z.object({
      tier: TIER,
      backend: z.string(),
      status: z.enum(["up", "down"]),
      circuit: z.enum(["closed", "half-open", "open"]),
      latencyMs: z.number().optional(),
    }),
  ),
});

/** GET and POST /api/admin/session: the dashboard's session (outside the versioned API, like /api/ready). */
export const AdminSessionInfo = z.object({
  keyId: z.string(),
  tenant: z.string(),
  csrfToken: z.string(),
  expiresAt: isoTime(),
});

export type ReadyReportBody = z.infer<typeof ReadyReport>;
export type AdminSessionBody = z.infer<typeof AdminSessionInfo>;
