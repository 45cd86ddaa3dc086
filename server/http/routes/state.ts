import { budgetHeader } from "../budget-header";
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { StateError } from "../../state/errors";
import { BUILT_IN_NAMESPACES } from "../../namespaces";
import { namespaceScopes } from "../namespace-access";
import type { WriteOutcome } from "../../state/service";
import { LIMITS, type ListPage, type StateRecord } from "../../state/store";
import { MAX_CURSOR_CHARS, MAX_TRANSACTION_OPERATIONS } from "../limits";
import { HttpError } from "../problem";
import { resolvePrecondition, WriteHeaders } from "../preconditions";
import { NamespaceList } from "../admin-schemas";
import type { RouteKit } from "./kit";
import { json, problems, reply, pathParam } from "./kit";

const NsKey = z.object({
  ns: pathParam("ns", { example: "kv" }),
  key: pathParam("key", { example: "user-42" }),
});
const Ns = z.object({ ns: pathParam("ns", { example: "kv" }) });

const RecordBody = z
  .object({
    namespace: z.string(),
    key: z.string(),
    version: z.number().int(),
    value: z.unknown(),
    schemaVersion: z.number().int(),
    createdAt: z.string(),
    updatedAt: z.string(),
    expiresAt: z.string().nullable(),
    sizeBytes: z.number().int(),
    idleTtlSeconds: z
      .number()
      .nullable()
      .openapi({ description: "Set when expiresAt slides: each access pushes it this many seconds ahead" }),
    durable: z
      .literal(false)
      .optional()
      .openapi({ description: "Present (false) only on a 202: buffered, not yet durable" }),
  })
  .openapi("StateRecord");

const JsonPatchOp = z
  .object({ op: z.string(), path: z.string(), from: z.string().optional(), value: z.unknown().optional() })
  .openapi("JsonPatchOperation");

const KeyPage = z
  .object({
    namespace: z.string(),
    items: z.array(
      z.object({
        key: z.string(),
        version: z.number(),
        updatedAt: z.string(),
        expiresAt: z.string().nullable(),
        sizeBytes: z.number(),
      }),
    ),
    nextCursor: z.string().optional(),
  })
  .openapi("KeyPage");

const History = z
  .object({
    namespace: z.string(),
    key: z.string(),
    versions: z.array(
      z.object({
        version: z.number(),
        at: z.string(),
        actor: z.string().nullable(),
        operation: z.enum(["put", "delete"]),
        patch: z.array(JsonPatchOp),
        schemaVersion: z.number(),
        sizeBytes: z.number(),
      }),
    ),
  })
  .openapi("History");

const Version = z
  .object({
    namespace: z.string(),
    key: z.string(),
    version: z.number(),
    value: z.unknown(),
    operation: z.enum(["put", "delete"]),
    at: z.string(),
    actor: z.string().nullable(),
    schemaVersion: z.number(),
    sizeBytes: z.number(),
  })
  .openapi("Version");

const TransactionResult = z
  .object({
    results: z.array(
      z.object({
        op: z.enum(["put", "delete"]),
        namespace: z.string(),
        key: z.string(),
        version: z.number().nullable(),
      }),
    ),
  })
  .openapi("TransactionResult");

const PutBody = z
  .object({
    value: z
      .unknown()
      .refine((v) => v !== undefined, "value is required")
      .openapi({ description: "Any JSON value" }),
    ttlSeconds: z.number().optional().openapi({ description: "Absolute time to live from this write; > 0" }),
    idleTtlSeconds: z.number().optional().openapi({
      description:
        "Sliding time to live: expires this long after the last access; > 0; ignored with ttlSeconds. Default: the namespace's idle TTL",
    }),
  })
  .openapi("PutStateRequest");

const ListQuery = z.object({
  prefix: z.string().max(LIMITS.maxKeyBytes).optional(),
  limit: z.coerce.number().int().min(1).max(LIMITS.maxListLimit).optional(),
  cursor: z.string().max(MAX_CURSOR_CHARS).optional(),
});

const HistoryQuery = z.object({
  limit: z.coerce.number().int().min(1).max(LIMITS.maxListLimit).optional(),
  before: z.coerce.number().int().min(1).max(LIMITS.maxVersion).optional(),
});

const ReadQuery = z.object({ consistency: z.enum(["eventual", "strong"]).optional() });

const TransactionBody = z
  .object({
    operations: z
      .array(
        z.object({
          op: z.enum(["put", "delete"]),
          namespace: z.string(),
          key: z.string(),
          value: z.unknown().optional(),
          ifMatch: z
            .union([z.string(), z.number().int()])
            .optional()
            .openapi({ description: 'Expected version, "<v>" or <v>' }),
          ifNoneMatch: z.literal("*").optional().openapi({ description: "* = create only (put)" }),
          ttlSeconds: z.number().optional(),
        }),
      )
      .min(1)
      .max(MAX_TRANSACTION_OPERATIONS),
  })
  .openapi("TransactionRequest");

/** A page of a namespace's keys as the state API and the admin API both answer it. */
export function keyPageJson(namespace: string, page: ListPage) {
  return {
    namespace,
    items: page.items.map((i) => ({
      key: i.key,
      version: i.version,
      updatedAt: i.updatedAt.toISOString(),
      expiresAt: i.expiresAt?.toISOString() ?? null,
      sizeBytes: i.sizeBytes,
    })),
    ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
  };
}

export function recordJson(r: StateRecord) {
  return {
    ...(r.durable === false ? { durable: false as const } : {}),
    namespace: r.namespace,
    key: r.key,
    version: r.version,
    value: r.value,
    schemaVersion: r.schemaVersion,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
    expiresAt: r.expiresAt?.toISOString() ?? null,
    sizeBytes: r.sizeBytes,
    idleTtlSeconds: r.idleTtlSeconds ?? null,
  };
}

export const etag = (version: number) => `"${version}"`;

/**
 * Answers a write with its record and new ETag: 202 and `Statehouse-Durability: buffered` when it was
 * accepted while the warm tier was down (visible now, durable once replayed; design: Failure behaviour);
 * otherwise `status`, `location` (a created record), and `Statehouse-Size-Warning` when the value is
 * over its namespace's warning level.
 */
function writeResponse(c: Context, outcome: WriteOutcome, status: 200 | 201, location?: string) {
  c.header("etag", etag(outcome.record.version));
  if (outcome.record.durable === false) {
    c.header("statehouse-durability", "buffered");
    return c.json(recordJson(outcome.record), 202);
  }
  const warning = outcome.sizeWarning;
  if (warning)
    c.header(
      "statehouse-size-warning",
      `${warning.sizeBytes} bytes exceeds the warning level of ${warning.warnBytes} (limit ${warning.failBytes})`,
    );
  if (location) c.header("location", location);
  return c.json(recordJson(outcome.record), status);
}

// Only built-in namespaces have owners (declared ones cannot), so the OpenAPI text is built from them.
const OWNED = BUILT_IN_NAMESPACES.filter((p) => p.owner);
const OWNED_READS = [...new Set(OWNED.map((p) => p.owner!.readScope))]
  .map(
    (scope) =>
      `${OWNED.filter((p) => p.owner!.readScope === scope)
        .map((p) => `\`${p.name}\``)
        .join(", ")} → \`${scope}\``,
  )
  .join("; ");
const READ_ACCESS =
  `Scope \`state:read\`. Namespaces a domain owns also need the domain's scope (${OWNED_READS}); ` +
  `without it: 403 \`forbidden\` naming the scope and the domain's route.`;
const WRITE_ACCESS =
  `Scope \`state:write\`. Namespaces a domain owns ` +
  `(${OWNED.map((p) => `\`${p.name}\``).join(", ")}) are never written through the state API, ` +
  `whatever the key's scopes: 403 \`forbidden\` naming the domain's route.`;
const readsNs = { access: "read" as const, of: ({ params }: { params: { ns: string } }) => [params.ns] };
const writesNs = { access: "write" as const, of: ({ params }: { params: { ns: string } }) => [params.ns] };
/** What PUT, PATCH and DELETE of one record share. */
const RECORD_WRITE = {
  tags: ["state"],
  scope: "state:write" as const,
  params: NsKey,
  headers: WriteHeaders,
  idempotent: true,
  description: WRITE_ACCESS,
  stateAccess: writesNs,
};

export function registerStateRoutes({ define }: RouteKit): void {
  // GET /api/v1/namespaces – the declared namespaces and their policies
  define(
    {
      method: "get",
      path: "/api/v1/namespaces",
      summary: "Namespaces and their policies",
      tags: ["state"],
      scope: "state:read",
      description:
        "Each namespace's policy and `access`: the scopes that read and write it through the state API (`write: " +
        "null`: owned by a domain, written only through its routes).",
      responses: { 200: json("Namespaces", NamespaceList), ...problems(401, 403, 429) },
    },
    async ({ c, services }) =>
      reply(c, NamespaceList, {
        namespaces: services.namespaces
          .list()
          .filter((p) => !p.internal)
          .map((p) => ({
            name: p.name,
            kind: p.kind,
            description: p.description,
            durability: p.durability,
            idleTtlSeconds: p.idleTtlSeconds,
            // `when` is code: the listing says only how long records wait.
            archiveAfter: p.archiveAfter && { idleSeconds: p.archiveAfter.idleSeconds },
            onExpire: p.onExpire,
            ttlSeconds: p.ttlSeconds,
            hotTtlSeconds: p.hotTtlSeconds,
            maxBytes: p.maxBytes,
            windows: p.windows,
            schemaVersion: p.schemaVersion,
            writeBackUpgrades: p.writeBackUpgrades,
            consistency: p.consistency,
            requirePrecondition: p.requirePrecondition,
            whenWarmDown: p.whenWarmDown,
            storageQuotaBytes: p.storageQuotaBytes,
            keepHistory: p.keepHistory,
            owner: p.owner,
            access: namespaceScopes(p),
          })),
      }),
  );

  // GET /api/v1/state/{ns}/{key} – read one record
  define(
    {
      method: "get",
      path: "/api/v1/state/{ns}/{key}",
      summary: "Read a record",
      tags: ["state"],
      scope: "state:read",
      params: NsKey,
      query: ReadQuery,
      description: READ_ACCESS,
      stateAccess: readsNs,
      responses: {
        200: json(
          "The record; ETag is its version, Statehouse-Tier the tier that answered, Statehouse-Budget the size and " +
            "rolling-window use against the namespace's limits (e.g. `size=812/1048576, turns.items=3/10, turns.bytes=640/65536`)",
          RecordBody,
        ),
        304: { description: "If-None-Match matched the current version" },
        ...problems(400, 401, 403, 404, 409, 429, 503),
      },
    },
    async ({ c, services, principal, params, query }) => {
      const record = await services.state.getOrThrow(
        { tenant: principal.tenant, namespace: params.ns, key: params.key },
        { consistency: query.consistency },
      );
      c.header("etag", etag(record.version));
      c.header("statehouse-tier", record.tier ?? "warm");
      c.header("statehouse-budget", budgetHeader(services.state.policy(params.ns), record.sizeBytes, record.value));
      c.header("cache-control", "no-store");
      if (
        c.req
          .header("if-none-match")
          ?.split(",")
          .map((s) => s.trim())
          .includes(etag(record.version))
      )
        return c.body(null, 304);
      return c.json(recordJson(record));
    },
  );

  // PUT /api/v1/state/{ns}/{key} – create or replace a record
  define(
    {
      method: "put",
      path: "/api/v1/state/{ns}/{key}",
      summary: "Create or replace a record",
      ...RECORD_WRITE,
      body: { schema: PutBody, contentTypes: ["application/json"] },
      responses: {
        200: json("Updated", RecordBody),
        201: json("Created", RecordBody),
        202: json(
          "Accepted while the warm tier is down (namespaces that buffer): `Statehouse-Durability: buffered`, body " +
            "`durable: false`; durable once replayed",
          RecordBody,
        ),
        ...problems(400, 401, 403, 404, 409, 412, 413, 415, 422, 428, 429, 503),
      },
    },
    async ({ c, services, principal, params, body }) => {
      const ref = { tenant: principal.tenant, namespace: params.ns, key: params.key };
      const pre = await resolvePrecondition(c, services, ref);
      const outcome = await services.state.put(ref, body.value, {
        ...pre,
        ttlSeconds: body.ttlSeconds,
        idleTtlSeconds: body.idleTtlSeconds,
        actor: principal.keyId,
      });
      if (!outcome.created) return writeResponse(c, outcome, 200);
      return writeResponse(
        c,
        outcome,
        201,
        `/api/v1/state/${encodeURIComponent(params.ns)}/${encodeURIComponent(params.key)}`,
      );
    },
  );

  // PATCH /api/v1/state/{ns}/{key} – merge patch (RFC 7396) or JSON Patch (RFC 6902), atomically
  define(
    {
      method: "patch",
      path: "/api/v1/state/{ns}/{key}",
      summary: "Patch a record atomically",
      ...RECORD_WRITE,
      body: {
        schema: z.union([z.array(JsonPatchOp), z.record(z.string(), z.unknown())]),
        contentTypes: ["application/merge-patch+json", "application/json-patch+json"],
      },
      responses: {
        200: json("Patched", RecordBody),
        202: json("Accepted while the warm tier is down, not yet durable", RecordBody),
        ...problems(400, 401, 403, 404, 409, 412, 413, 415, 422, 428, 429, 503),
      },
    },
    async ({ c, services, principal, params, body, contentType }) => {
      const ref = { tenant: principal.tenant, namespace: params.ns, key: params.key };
      const pre = await resolvePrecondition(c, services, ref);
      if (pre.createOnly)
        throw new HttpError("malformed", "If-None-Match: * does not apply to PATCH (the record must exist)");
      const format = contentType === "application/json-patch+json" ? "json-patch" : "merge";
      const outcome = await services.state.patch(ref, format, body, {
        ifVersion: pre.ifVersion,
        actor: principal.keyId,
      });
      return writeResponse(c, outcome, 200);
    },
  );

  // DELETE /api/v1/state/{ns}/{key} – delete a record
  define(
    {
      method: "delete",
      path: "/api/v1/state/{ns}/{key}",
      summary: "Delete a record",
      ...RECORD_WRITE,
      responses: { 204: { description: "Deleted" }, ...problems(400, 401, 403, 404, 409, 412, 428, 429, 503) },
    },
    async ({ c, services, principal, params }) => {
      const ref = { tenant: principal.tenant, namespace: params.ns, key: params.key };
      const pre = await resolvePrecondition(c, services, ref);
      if (pre.createOnly) throw new HttpError("malformed", "If-None-Match does not apply to DELETE");
      const result = await services.state.delete(ref, { ifVersion: pre.ifVersion, actor: principal.keyId });
      if (!result.deleted) throw new StateError("not_found", `no record ${params.ns}/${params.key}`);
      return c.body(null, 204);
    },
  );

  // GET /api/v1/state/{ns} – list keys by prefix, paginated
  define(
    {
      method: "get",
      path: "/api/v1/state/{ns}",
      summary: "List keys",
      tags: ["state"],
      scope: "state:read",
      params: Ns,
      query: ListQuery,
      description: READ_ACCESS,
      stateAccess: readsNs,
      responses: {
        200: json("A page of keys; pass nextCursor as cursor for the next", KeyPage),
        ...problems(400, 401, 403, 404, 422, 429, 503),
      },
    },
    async ({ c, services, principal, params, query }) => {
      const page = await services.state.list(principal.tenant, params.ns, {
        prefix: query.prefix,
        limit: query.limit,
        cursor: query.cursor,
      });
      return c.json(keyPageJson(params.ns, page));
    },
  );

  // GET /api/v1/state/{ns}/{key}/history – versions with who, when, how, and a JSON Patch from the previous one
  define(
    {
      method: "get",
      path: "/api/v1/state/{ns}/{key}/history",
      summary: "Version history",
      tags: ["state"],
      scope: "state:read",
      params: NsKey,
      query: HistoryQuery,
      description: READ_ACCESS,
      stateAccess: readsNs,
      responses: {
        200: json("Versions, newest first", History),
        ...problems(400, 401, 403, 404, 429, 503),
      },
    },
    async ({ c, services, principal, params, query }) => {
      const ref = { tenant: principal.tenant, namespace: params.ns, key: params.key };
      const versions = await services.state.history(ref, { limit: query.limit, before: query.before });
      if (versions.length === 0 && query.before === undefined)
        throw new StateError("not_found", `no record ${params.ns}/${params.key}`);
      return c.json({
        namespace: params.ns,
        key: params.key,
        versions: versions.map((v) => ({
          version: v.version,
          at: v.at.toISOString(),
          actor: v.actor,
          operation: v.operation,
          patch: v.patch,
          schemaVersion: v.schemaVersion,
          sizeBytes: v.sizeBytes,
        })),
      });
    },
  );

  // GET /api/v1/state/{ns}/{key}/versions/{v} – the value as it was at version v
  define(
    {
      method: "get",
      path: "/api/v1/state/{ns}/{key}/versions/{v}",
      summary: "A past version",
      tags: ["state"],
      scope: "state:read",
      description: READ_ACCESS,
      stateAccess: readsNs,
      params: NsKey.extend({
        v: z.coerce
          .number()
          .int()
          .min(1)
          .max(LIMITS.maxVersion)
          .openapi({ param: { name: "v", in: "path" }, example: 1 }),
      }),
      responses: {
        200: json("The value at that version", Version),
        ...problems(400, 401, 403, 404, 429, 503),
      },
    },
    async ({ c, services, principal, params }) => {
      const entry = await services.state.versionOrThrow(
        { tenant: principal.tenant, namespace: params.ns, key: params.key },
        params.v,
      );
      c.header("etag", etag(entry.version));
      return c.json({
        namespace: params.ns,
        key: params.key,
        version: entry.version,
        value: entry.value,
        operation: entry.operation,
        at: entry.at.toISOString(),
        actor: entry.actor,
        schemaVersion: entry.schemaVersion,
        sizeBytes: entry.sizeBytes,
      });
    },
  );

  // POST /api/v1/transactions – several puts and deletes, all or nothing
  define(
    {
      method: "post",
      path: "/api/v1/transactions",
      summary: "All-or-nothing writes across keys",
      tags: ["state"],
      scope: "state:write",
      idempotent: true,
      description: WRITE_ACCESS,
      stateAccess: { access: "write", list: "operations", of: ({ body }) => body.operations.map((op) => op.namespace) },
      headers: WriteHeaders.pick({ "idempotency-key": true }),
      body: { schema: TransactionBody, contentTypes: ["application/json"] },
      responses: {
        200: json("Every operation applied", TransactionResult),
        ...problems(400, 401, 403, 404, 409, 412, 413, 415, 422, 429, 503),
      },
    },
    async ({ c, services, principal, body }) => {
      const ops = body.operations.map((op, i) => {
        const ifVersion = parseIfMatch(op.ifMatch, i);
        if (op.op === "put") {
          if (op.value === undefined) throw new HttpError("malformed", `operations[${i}]: a put needs a value`);
          if (op.ifNoneMatch && ifVersion !== undefined)
            throw new HttpError("malformed", `operations[${i}]: ifMatch and ifNoneMatch cannot be combined`);
          return {
            op: "put" as const,
            namespace: op.namespace,
            key: op.key,
            value: op.value,
            ifVersion,
            createOnly: op.ifNoneMatch === "*",
            ttlSeconds: op.ttlSeconds,
          };
        }
        return { op: "delete" as const, namespace: op.namespace, key: op.key, ifVersion };
      });
      const results = await services.state.transact(principal.tenant, ops, principal.keyId);
      return c.json({
        results: results.map((r, i) => ({
          op: r.op,
          namespace: ops[i]!.namespace,
          key: ops[i]!.key,
          version: r.op === "put" ? r.record.version : r.result.version,
        })),
      });
    },
  );
}

function parseIfMatch(v: string | number | undefined, index: number): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === "number" ? v : /^"?(\d{1,15})"?$/.exec(v)?.[1];
  if (n === undefined || !Number.isSafeInteger(Number(n)) || Number(n) < 1 || Number(n) > LIMITS.maxVersion)
    throw new HttpError("malformed", `operations[${index}].ifMatch must be a version such as "3"`);
  return Number(n);
}

/** Turns If-Match: * and unmatchable ETags into concrete answers: * needs an existing record, a foreign ETag never matches. */
