// The OpenAI door's errors: the same codes and statuses as every route (problem.ts), in OpenAI's shape
// `{"error":{"message","type","param","code"}}`, so the official client raises its typed errors.
import { errorParts } from "./problem";

/** OpenAI's error `type` for a status. */
function typeFor(status: number): string {
  if (status === 401) return "invalid_request_error";
  if (status === 403) return "permission_error";
  if (status === 429) return "requests";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

/** OpenAI's `code` for ours, where OpenAI has its own name for it. */
function codeFor(code: string, details: Record<string, unknown>): string {
  if (code === "unauthorized") return "invalid_api_key";
  if (code === "rate_limited") return "rate_limit_exceeded";
  if (code === "not_found" && details.model !== undefined) return "model_not_found";
  return code;
}

/** The request field an error is about, in OpenAI's `param` (dotted path), when we know it. */
function paramOf(details: Record<string, unknown>): string | null {
  const field = details.param ?? details.field;
  if (Array.isArray(field)) return field.length ? field.join(".") : null;
  return typeof field === "string" && field ? field : null;
}

export function openaiErrorResponse(err: unknown): Response {
  const { code, status, detail, details, headers } = errorParts(err);
  const body = {
    error: { message: detail, type: typeFor(status), param: paramOf(details), code: codeFor(code, details) },
  };
  return new Response(JSON.stringify(body), { status, headers: { ...headers, "content-type": "application/json" } });
}
