import type { Principal } from "../auth/api-keys";
import { isConflict } from "../state/errors";
import type { StateRecord, StateStore } from "../state/store";
import { HttpError } from "./problem";

const NAMESPACE = "idempotency";
const TTL_SECONDS = 24 * 3600;
const PENDING_TTL_SECONDS = 60;
/** Response headers worth replaying; the rest (dates, rate-limit counters) describe the new request. */
const REPLAYED_HEADERS = [
  "content-type",
  "etag",
  "location",
  "statehouse-tier",
  "statehouse-size-warning",
  "statehouse-durability",
];

interface Remembered {
  state: "pending" | "done";
  fingerprint: string;
  status?: number;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * Idempotency-Key: the first request with a key runs and its answer is remembered for 24 h (in the hot
 * tier, namespace `idempotency`, per API key); a repeat with the same method, path and body gets that
 * answer again (header `Idempotent-Replayed: true`); with a different request, 409. Answers of 5xx are
 * not remembered, so the client can retry them.
 */
export class IdempotencyService {
  constructor(private readonly store: StateStore) {}

  /**
   * Erases the tenant's remembered answers that name the user (a `userId` or `user_id` field equal to
   * it anywhere in the JSON body), for forgetting them; answers how many. Reads every answer the tenant
   * has (at most 24 h of them), eight at a time.
   */
  async forgetMentioning(tenant: string, userId: string): Promise<number> {
    let erased = 0;
    for (let cursor: string | undefined; ; ) {
      const page = await this.store.list(tenant, NAMESPACE, { limit: 1000, cursor });
      for (let i = 0; i < page.items.length; i += 8) {
        await Promise.all(
          page.items.slice(i, i + 8).map(async ({ key }) => {
            const ref = { tenant, namespace: NAMESPACE, key };
            const remembered = (await this.store.get(ref))?.value as Remembered | undefined;
            if (remembered?.body && namesUser(remembered.body, userId) && (await this.store.erase(ref)).erased)
              erased++;
          }),
        );
      }
      if (!page.nextCursor) return erased;
      cursor = page.nextCursor;
    }
  }

  async run(
    principal: Principal,
    idempotencyKey: string,
    fingerprint: string,
    handle: () => Promise<Response>,
  ): Promise<Response> {
    if (!/^[\x21-\x7e]{1,255}$/.test(idempotencyKey)) {
      throw new HttpError("malformed", "Idempotency-Key must be 1 to 255 visible ASCII characters");
    }
    const ref = { tenant: principal.tenant, namespace: NAMESPACE, key: `${principal.keyId}:${idempotencyKey}` };
    let reservation: StateRecord;
    try {
      // Pending for at most a minute: a process that dies mid-request must not block the key for a day.
      reservation = await this.store.put(ref, { state: "pending", fingerprint } satisfies Remembered, {
        createOnly: true,
        ttlSeconds: PENDING_TTL_SECONDS,
      });
    } catch (err) {
      if (!isConflict(err)) throw err;
      const existing = (await this.store.get(ref))?.value as Remembered | undefined;
      if (!existing) return this.run(principal, idempotencyKey, fingerprint, handle); // expired between the two calls
      if (existing.fingerprint !== fingerprint) {
        throw new HttpError("idempotency_conflict", "this Idempotency-Key was used for a different request");
      }
      if (existing.state === "pending") {
        throw new HttpError(
          "idempotency_in_progress",
          "the first request with this Idempotency-Key has not finished",
          { retryAfterSeconds: 1 },
          { "retry-after": "1" },
        );
      }
      const headers = new Headers(existing.headers);
      headers.set("idempotent-replayed", "true");
      return new Response(existing.status === 204 || existing.status === 304 ? null : existing.body, {
        status: existing.status,
        headers,
      });
    }
    let response: Response;
    try {
      response = await handle();
    } catch (err) {
      await this.store.delete(ref).catch(() => {});
      throw err;
    }
    if (response.status >= 500) {
      await this.store.delete(ref).catch(() => {});
      return response;
    }
    const body = await response.clone().text();
    const headers: Record<string, string> = {};
    for (const name of REPLAYED_HEADERS) {
      const v = response.headers.get(name);
      if (v !== null) headers[name] = v;
    }
    await this.store
      .put(ref, { state: "done", fingerprint, status: response.status, headers, body } satisfies Remembered, {
        ifVersion: reservation.version,
        ttlSeconds: TTL_SECONDS,
      })
      .catch(() => this.store.delete(ref).catch(() => {}));
    return response;
  }
}

/** Whether a JSON answer names the user: a `userId` or `user_id` field equal to it, at any depth. */
function namesUser(body: string, userId: string): boolean {
  // Cheap first: an answer that does not hold the id as a JSON string cannot name the user.
  if (!body.includes(JSON.stringify(userId))) return false;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return false;
  }
  const pending: unknown[] = [parsed];
  while (pending.length > 0) {
    const v = pending.pop();
    if (v === null || typeof v !== "object") continue;
    if (Array.isArray(v)) pending.push(...v);
    else
      for (const [k, x] of Object.entries(v)) {
        if ((k === "userId" || k === "user_id") && x === userId) return true;
        if (typeof x === "object") pending.push(x);
      }
  }
  return false;
}
