import type { StateErrorCode } from "../state/errors";
import { isStateError } from "../state/errors";
import type { WorkflowErrorCode } from "../workflows/types";

/** Codes the HTTP layer raises itself, beyond the engine's. */
export type HttpErrorCode =
  | StateErrorCode
  | WorkflowErrorCode
  | "malformed"
  | "too_deep"
  | "unauthorized"
  | "forbidden"
  | "idempotency_conflict"
  | "idempotency_in_progress"
  | "unsupported_media_type"
  | "method_not_allowed"
  | "rate_limited"
  | "body_too_large"
  | "internal";

/** The one table from error codes to HTTP statuses. Nothing else in the code base picks a status for an error. */
export const STATUS = {
  malformed: 400,
  // Valid JSON, refused for its nesting before anything recursed into it: a limit, not a syntax error.
  too_deep: 400,
  invalid: 422,
  unauthorized: 401,
  forbidden: 403,
  // 403, not 421 Misdirected Request: clients (undici's fetch, browsers) repeat a 421 on a new connection
  // by themselves, so every refusal would arrive twice. A region pin is a policy refusal (RFC 9110 §15.5.4).
  residency_violation: 403,
  not_found: 404,
  unknown_namespace: 404,
  method_not_allowed: 405,
  idempotency_conflict: 409,
  idempotency_in_progress: 409,
  // The stored record conflicts with the namespace's current schema (its upgrader throws). Not a 5xx:
  // retrying cannot help, and the client can resolve it by overwriting the record (RFC 9110 §15.5.10).
  upgrade_failed: 409,
  workflow_finished: 409,
  version_conflict: 412,
  too_large: 413,
  body_too_large: 413,
  storage_quota_exceeded: 413,
  unsupported_media_type: 415,
  unsupported: 422,
  unknown_workflow_type: 422,
  precondition_required: 428,
  rate_limited: 429,
  operations_quota_exceeded: 429,
  internal: 500,
  upstream_failed: 502,
  unavailable: 503,
} as const satisfies Record<HttpErrorCode, number>;

const TITLES: Record<HttpErrorCode, string> = {
  malformed: "Malformed request",
  too_deep: "JSON nested too deeply",
  invalid: "Invalid value",
  unauthorized: "Missing or invalid API key",
  forbidden: "Not allowed",
  not_found: "Not found",
  unknown_namespace: "Unknown namespace",
  method_not_allowed: "Method not allowed",
  idempotency_conflict: "Idempotency key reused with a different request",
  idempotency_in_progress: "A request with this idempotency key is still in progress",
  upgrade_failed: "Stored record cannot be upgraded to the current schema",
  version_conflict: "Version mismatch",
  too_large: "Over the size limit",
  body_too_large: "Request body too large",
  unsupported_media_type: "Unsupported content type",
  unsupported: "Not supported here",
  unknown_workflow_type: "Unknown workflow type",
  workflow_finished: "The workflow run has already finished",
  precondition_required: "Precondition required",
  rate_limited: "Too many requests",
  operations_quota_exceeded: "Daily operations quota exhausted",
  storage_quota_exceeded: "Storage quota exceeded",
  residency_violation: "Tenant pinned to another region",
  internal: "Internal error",
  upstream_failed: "The agent's model failed",
  unavailable: "Service unavailable",
};

/** An error raised by the HTTP layer, carrying a stable code and safe details. */
export class HttpError extends Error {
  constructor(
    readonly code: HttpErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: HttpErrorCode;
  detail: string;
  instance?: string;
  traceId?: string;
  [extension: string]: unknown;
}

/** Members of every problem (RFC 9457 and ours), which no error's details may set; `store` is never shown. */
const RESERVED = new Set(["type", "title", "status", "code", "detail", "instance", "traceId", "store"]);

/**
 * Turns any thrown value into an RFC 9457 problem+json response. Known errors keep their message and
 * details (written to be safe to show); anything else becomes a generic 500 with no detail.
 */
export function problemResponse(err: unknown, context: { instance?: string; traceId?: string } = {}): Response {
  const { code, status, detail, details, headers } = errorParts(err);
  headers["content-type"] = "application/problem+json";
  // Details extend the problem; they never replace its members (a detail named `status` once made a
  // 409 say "status":"succeeded"). Which backend failed is an operator's concern, logged not shown.
  const extensions = Object.fromEntries(Object.entries(details).filter(([name]) => !RESERVED.has(name)));
  const body: Problem = {
    type: `https://statehouse.dev/problems/${code.replace(/_/g, "-")}`,
    title: TITLES[code],
    status,
    code,
    detail,
    ...extensions,
    ...(context.instance ? { instance: context.instance } : {}),
    ...(context.traceId ? { traceId: context.traceId } : {}),
  };
  return new Response(JSON.stringify(body), { status, headers });
}

/**
 * What any error answers, whatever the door's shape: its code and status from the one table, a message
 * safe to show (a generic one for anything unexpected), its details and the headers it needs.
 */
export function errorParts(err: unknown): {
  code: HttpErrorCode;
  status: number;
  detail: string;
  details: Record<string, unknown>;
  headers: Record<string, string>;
} {
  const known = knownError(err);
  const code: HttpErrorCode = known?.code ?? "internal";
  const details = known?.details ?? {};
  const headers: Record<string, string> = { "cache-control": "no-store", ...(known?.headers ?? {}) };
  const status = STATUS[code];
  if ((status === 503 || status === 429) && !headers["retry-after"]) {
    headers["retry-after"] = String(Math.max(1, Math.ceil(Number(details.retryAfterSeconds ?? 1))));
  }
  return { code, status, detail: known?.message ?? "The server could not complete the request.", details, headers };
}

export function statusOf(err: unknown): number {
  return STATUS[knownError(err)?.code ?? "internal"];
}

/**
 * An error whose code and message are ours to show: an HttpError or a StateError with a code in the
 * table, told by its shape (`code`, `details`), not `instanceof` (a module bundled twice breaks it).
 */
function knownError(err: unknown): HttpError | undefined {
  return isStateError(err) && err.code in STATUS ? (err as unknown as HttpError) : undefined;
}
