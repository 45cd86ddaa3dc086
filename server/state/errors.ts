import type { StateRef } from "./store";

/**
 * Every error the state engine raises on purpose carries a stable `code`. The HTTP layer maps codes
 * to statuses in one table (server/http/problem.ts); callers check `code`, never `instanceof`
 * (a module bundled twice by Next.js breaks `instanceof`).
 */
export type StateErrorCode =
  | "version_conflict"
  | "not_found"
  | "invalid"
  | "unknown_namespace"
  | "unsupported"
  | "unavailable"
  | "too_large"
  | "precondition_required"
  | "upgrade_failed"
  // A domain refusing a call the key's scopes allow (the built-in agent is read-only).
  | "forbidden"
  // An agent's model (its OpenAI-compatible upstream) failed, timed out or answered too much.
  | "upstream_failed"
  // Tenant policies (server/policies/tenant-policies.ts): region pinning and quotas.
  | "residency_violation"
  | "operations_quota_exceeded"
  | "storage_quota_exceeded";

/** An error with a stable `code` the HTTP layer maps (server/http/problem.ts); `details` are safe to show. */
export class CodedError<Code extends string> extends Error {
  constructor(
    readonly code: Code,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export class StateError extends CodedError<StateErrorCode> {
  override name = "StateError";
}

/** The expected version did not match. `current` is the live version, or null when the key is absent. */
export class VersionConflictError extends StateError {
  constructor(
    readonly ref: StateRef,
    readonly expected: number | "absent",
    readonly current: number | null,
  ) {
    super(
      "version_conflict",
      expected === "absent"
        ? `key already exists at version ${current}`
        : `expected version ${expected}, current is ${current ?? "absent"}`,
      { expected, currentVersion: current },
    );
    this.name = "VersionConflictError";
  }
}

export class NotFoundError extends StateError {
  constructor(readonly ref: StateRef) {
    super("not_found", `no record ${ref.namespace}/${ref.key}`);
    this.name = "NotFoundError";
  }
}

export class InvalidError extends StateError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super("invalid", message, details);
    this.name = "InvalidError";
  }
}

/** A store could not answer: down, timed out, or its circuit breaker is open. Safe to retry later. */
export class UnavailableError extends StateError {
  constructor(
    readonly store: string,
    message: string,
    readonly retryAfterSeconds = 1,
  ) {
    super("unavailable", message, { store, retryAfterSeconds });
    this.name = "UnavailableError";
  }
}

export function isStateError(err: unknown): err is StateError {
  return (
    typeof err === "object" &&
    err !== null &&
    typeof (err as StateError).code === "string" &&
    (err as Error).name?.endsWith("Error") &&
    "details" in err
  );
}

export function isConflict(err: unknown): err is VersionConflictError {
  return isStateError(err) && err.code === "version_conflict";
}

/** Errors that say something about the caller's request, not about the store's health. */
export function isCallerError(err: unknown): boolean {
  return isStateError(err) && err.code !== "unavailable";
}

/**
 * The error of operation `index` of a transaction: the same code and details plus `operation` (its
 * index in the request's `operations`), its message prefixed with `operations[index]`. Store failures
 * (`unavailable`) are not about one operation and pass through unchanged, as do errors already placed.
 */
export function inOperation(err: unknown, index: number): unknown {
  if (!isCallerError(err) || "operation" in (err as StateError).details) return err;
  const e = err as StateError;
  return new StateError(e.code, `operations[${index}]: ${e.message}`, { ...e.details, operation: index });
}
