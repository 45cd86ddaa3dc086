// Conditional writes over HTTP: If-Match / If-None-Match into a version precondition (state and agent routes).
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { StateError } from "../state/errors";
import type { Precondition, StateService } from "../state/service";
import { LIMITS } from "../state/store";
import { HttpError } from "./problem";

/** The request headers a conditional, idempotent write documents. */
export const WriteHeaders = z.object({
  "if-match": z.string().optional().openapi({ description: 'Compare-and-set: "<version>" from a previous ETag' }),
  "if-none-match": z.string().optional().openapi({ description: "* = create only" }),
  "idempotency-key": z.string().optional().openapi({ description: "Replays the first answer for the same request" }),
});

/** Reads If-Match / If-None-Match. Returns the precondition; a non-numeric ETag can never match. */
function preconditions(c: Context): Precondition & { unmatchable?: boolean; anyVersion?: boolean } {
  const ifMatch = c.req.header("if-match")?.trim();
  const ifNoneMatch = c.req.header("if-none-match")?.trim();
  if (ifMatch !== undefined && ifNoneMatch !== undefined)
    throw new HttpError("malformed", "send If-Match or If-None-Match, not both");
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch !== "*")
      throw new HttpError("malformed", 'on writes, If-None-Match supports only "*" (create only)');
    return { createOnly: true };
  }
  if (ifMatch === undefined) return {};
  if (ifMatch === "*") return { anyVersion: true };
  const m = /^"(\d{1,15})"$/.exec(ifMatch);
  if (!m) return /^(W\/)?"[^"]*"$/.test(ifMatch) ? { unmatchable: true } : malformedEtag();
  const version = Number(m[1]);
  // Beyond the largest version (or 0) no record can match: a 412, never a database error.
  return version >= 1 && version <= LIMITS.maxVersion ? { ifVersion: version } : { unmatchable: true };
}

function malformedEtag(): never {
  throw new HttpError("malformed", 'If-Match must be an ETag such as "3", or *');
}

/** The precondition of a write to `ref`: `If-Match: *` and unmatchable ETags are resolved against the stored record. */
export async function resolvePrecondition(
  c: Context,
  services: { state: StateService },
  ref: { tenant: string; namespace: string; key: string },
): Promise<Precondition> {
  const pre = preconditions(c);
  if (!pre.unmatchable && !pre.anyVersion) return pre;
  const current = await services.state.readStored(ref, { consistency: "strong" });
  if (pre.anyVersion && current) return { ifVersion: current.version };
  services.state.policy(ref.namespace);
  throw new StateError(
    "version_conflict",
    pre.anyVersion ? "If-Match: * needs an existing record" : "the ETag does not match the current version",
    {
      currentVersion: current?.version ?? null,
    },
  );
}
