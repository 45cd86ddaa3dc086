import { MAX_BATCH_DOCUMENTS, MAX_INVOKE_MESSAGES } from "../agents/stateless";
import { AGENT_TASK_MAX_WAIT_MS, AGENT_TASKS_QUEUED_PER_TENANT, AGENT_TEXT_PREFIX_CHARS } from "../agents/text-limits";
import type { Config } from "../config";
import { MAX_PATCH_OPERATIONS, MAX_PATCH_WORK_BYTES } from "../state/json-patch";
import { LIMITS } from "../state/store";
import { MAX_DOCUMENT_BYTES } from "../workflows/document-analysis";
import { MAX_JSON_DEPTH } from "./json-body";
import { type HttpErrorCode, STATUS } from "./problem";

/**
 * Every limit a request can meet, in one table: what it bounds, its value, and the answer past it.
 * The "Limits" table of docs/api.md and the OpenAPI document's `info.x-statehouse-limits` are rendered from
 * this table, and a test checks all three agree. A new request-size or work limit gets a row here.
 */

/** Bytes of a request body under /api/admin (the dashboard's login and session calls). */
export const ADMIN_BODY_BYTES = 16 * 1024;
/** Operations in one POST /api/v1/transactions. */
export const MAX_TRANSACTION_OPERATIONS = 100;
/** Characters of one message's content (session messages, invoke messages). */
export const MAX_MESSAGE_CHARS = 32_000;
/** Characters of the summary an invoke call may carry. */
export const MAX_SUMMARY_CHARS = 16_000;
/** Characters of a session id in a path. */
export const MAX_SESSION_ID_CHARS = 128;
/** Characters of a list cursor. */
export const MAX_CURSOR_CHARS = 2048;
/** Characters of an API key in `Authorization: Bearer`. */
export const MAX_API_KEY_CHARS = 512;
/** Characters of a namespace or tenant name ([a-z0-9][a-z0-9_-]*). */
export const MAX_NAME_CHARS = 64;

export interface RequestLimit {
  /** Stable identifier. */
  name: string;
  /** The value in force (for a setting: as configured; docs/api.md shows its default). */
  limit: number;
  unit: "bytes" | "levels" | "operations" | "items" | "characters" | "seconds" | "milliseconds" | "failures";
  /** What it bounds, and where. */
  bounds: string;
  /** The answer past the limit: its status (from problem.ts) and problem code, when it is refused with a problem. */
  status?: number;
  code?: HttpErrorCode;
  /** What happens past a limit that is not a problem answer (work cut short, a status Node writes). */
  otherwise?: string;
  /** The environment variable that sets it, when it is configurable. */
  setting?: string;
}

/** A limit: past it, a problem with `code`, or (`{ otherwise }`) what happens instead where it is not refused. */
const row = (
  name: string,
  limit: number,
  unit: RequestLimit["unit"],
  bounds: string,
  past: HttpErrorCode | { otherwise: string },
  setting?: string,
): RequestLimit => ({
  name,
  limit,
  unit,
  bounds,
  ...(typeof past === "string" ? { status: STATUS[past], code: past } : past),
  ...(setting ? { setting } : {}),
});

/** The limits in force for `config`. */
export function requestLimits(
  config: Pick<
    Config,
    | "STATEHOUSE_MAX_BODY_BYTES"
    | "STATEHOUSE_AGENT_TASK_TIMEOUT_MS"
    | "STATEHOUSE_AUTH_FAILURES"
    | "STATEHOUSE_REQUEST_TIMEOUT_MS"
    | "STATEHOUSE_HEADERS_TIMEOUT_MS"
  >,
): RequestLimit[] {
  return [
    row(
      "body-bytes",
      config.STATEHOUSE_MAX_BODY_BYTES,
      "bytes",
      "a request body under /api/v1, refused before it is parsed",
      "body_too_large",
      "STATEHOUSE_MAX_BODY_BYTES",
    ),
    row(
      "admin-body-bytes",
      ADMIN_BODY_BYTES,
      "bytes",
      "a request body under /api/admin (the dashboard's login)",
      "body_too_large",
    ),
    row(
      "json-depth",
      MAX_JSON_DEPTH,
      "levels",
      "nesting of objects and arrays in every JSON body (state, patches, transactions, agents, workflows, admin, " +
        "login), counted on the raw text before parsing",
      "too_deep",
    ),
    row(
      "value-bytes",
      LIMITS.maxValueBytes,
      "bytes",
      "a stored value's JSON text; each namespace's own `maxBytes.fail` is lower (`GET /api/v1/namespaces`) and is " +
        "what PUT, PATCH and transactions meet",
      "too_large",
    ),
    row(
      "value-nesting",
      LIMITS.maxNesting,
      "levels",
      "nesting of a stored value (a JSON Patch can deepen one, e.g. by copying into a deeper path)",
      "invalid",
    ),
    row(
      "patch-operations",
      MAX_PATCH_OPERATIONS,
      "operations",
      "operations in one JSON Patch (`application/json-patch+json`)",
      "too_large",
    ),
    row(
      "patch-work-bytes",
      MAX_PATCH_WORK_BYTES,
      "bytes",
      "bytes one JSON Patch may count, copy or shift while applied (its value is also refused as soon as it would " +
        "grow past the namespace's `maxBytes.fail`)",
      "too_large",
    ),
    row(
      "transaction-operations",
      MAX_TRANSACTION_OPERATIONS,
      "operations",
      "operations in one `POST /api/v1/transactions` (at least 1)",
      "malformed",
    ),
    row("key-bytes", LIMITS.maxKeyBytes, "bytes", "a key, as UTF-8, without control characters", "invalid"),
    row(
      "namespace-chars",
      MAX_NAME_CHARS,
      "characters",
      "a namespace name; only declared namespaces exist, so any other name is unknown",
      "unknown_namespace",
    ),
    row("ttl-seconds", LIMITS.maxTtlSeconds, "seconds", "`ttlSeconds` and `idleTtlSeconds` of a write", "invalid"),
    row(
      "list-limit",
      LIMITS.maxListLimit,
      "items",
      "`?limit=` of `GET /api/v1/state/{ns}` and of history",
      "malformed",
    ),
    row("list-prefix-chars", LIMITS.maxKeyBytes, "characters", "`?prefix=` of `GET /api/v1/state/{ns}`", "malformed"),
    row("list-cursor-chars", MAX_CURSOR_CHARS, "characters", "`?cursor=` of `GET /api/v1/state/{ns}`", "malformed"),
    row(
      "message-chars",
      MAX_MESSAGE_CHARS,
      "characters",
      "a message's `content` (session messages, each `invoke` message) and each `batch` document's `text` (reported in its place)",
      "malformed",
    ),
    row("invoke-messages", MAX_INVOKE_MESSAGES, "items", "`messages` of one `invoke` call", "malformed"),
    row("invoke-summary-chars", MAX_SUMMARY_CHARS, "characters", "`summary` of one `invoke` call", "malformed"),
    row("batch-documents", MAX_BATCH_DOCUMENTS, "items", "`documents` of one `batch` call", "malformed"),
    row("session-id-chars", MAX_SESSION_ID_CHARS, "characters", "a session id in a path", "malformed"),
    row(
      "workflow-document-bytes",
      MAX_DOCUMENT_BYTES,
      "bytes",
      "the `document` input of a `document-analysis` workflow",
      "too_large",
    ),
    row(
      "api-key-chars",
      MAX_API_KEY_CHARS,
      "characters",
      "an API key in `Authorization: Bearer` (longer is never valid)",
      "unauthorized",
    ),
    row(
      "auth-failures",
      config.STATEHOUSE_AUTH_FAILURES,
      "failures",
      "failed key checks and logins from one client address in its window " +
        "(`STATEHOUSE_AUTH_FAILURE_WINDOW_SECONDS`); valid keys are never refused for them",
      "rate_limited",
      "STATEHOUSE_AUTH_FAILURES",
    ),
    row(
      "request-ms",
      config.STATEHOUSE_REQUEST_TIMEOUT_MS,
      "milliseconds",
      "time for a request's headers and body to arrive (headers: `STATEHOUSE_HEADERS_TIMEOUT_MS`)",
      { otherwise: "408, connection closed" },
      "STATEHOUSE_REQUEST_TIMEOUT_MS",
    ),
    row(
      "agent-text-prefix-chars",
      AGENT_TEXT_PREFIX_CHARS,
      "characters",
      "what entity extraction, intent, summary lines and embeddings read of each message (the whole message is stored and answered)",
      { otherwise: "not refused: the rest is not analysed" },
    ),
    row(
      "agent-task-ms",
      config.STATEHOUSE_AGENT_TASK_TIMEOUT_MS,
      "milliseconds",
      "CPU time of one text-analysis task in the worker pool (one message, or one batch document)",
      {
        otherwise:
          "the task's worker is recycled; the turn answers without that message's entities, a batch item reports `failed`",
      },
      "STATEHOUSE_AGENT_TASK_TIMEOUT_MS",
    ),
    row(
      "agent-task-wait-ms",
      AGENT_TASK_MAX_WAIT_MS,
      "milliseconds",
      "how long a task waits behind its own tenant's earlier tasks (each tenant has one task running at a time)",
      { otherwise: "given up: answered as over budget" },
    ),
    row(
      "agent-tasks-queued",
      AGENT_TASKS_QUEUED_PER_TENANT,
      "items",
      "text-analysis tasks one tenant may have waiting in the pool",
      { otherwise: "refused at once: answered as over budget" },
    ),
  ];
}

/** The Limits table of docs/api.md, rendered from `limits` (test/unit/limits.test.ts compares the two). */
export function limitsMarkdown(limits: readonly RequestLimit[]): string {
  const lines = ["| limit | value | bounds | past it |", "|---|---|---|---|"];
  for (const l of limits) {
    const value = `${l.limit} ${l.unit}${l.setting ? ` (default; \`${l.setting}\`)` : ""}`;
    lines.push(`| \`${l.name}\` | ${value} | ${l.bounds} | ${l.code ? `${l.status} \`${l.code}\`` : l.otherwise} |`);
  }
  return lines.join("\n");
}
