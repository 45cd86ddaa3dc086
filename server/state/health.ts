import { CircuitBreaker, type CircuitBreakerOptions } from "./circuit-breaker";
import { isCallerError, isStateError, UnavailableError } from "./errors";
import { currentRequestScope } from "./request-scope";
import { isTimeout, withTimeout } from "./timeout";

export interface StoreHealthOptions {
  /** The backend's name in errors and logs ("redis", "postgres", ...). */
  name: string;
  /** Every call fails with `unavailable` after this long; the underlying call is abandoned. */
  timeoutMs?: number;
  breaker?: CircuitBreaker | CircuitBreakerOptions;
  /**
   * A timeout opens the circuit at once instead of counting toward the failure threshold. For a tier
   * that others can answer for (hot: warm has every durable record), where failing fast costs a
   * slower path, not a refusal.
   */
  openOnTimeout?: boolean;
}

/**
 * The health of one backend connection (a Redis client, a PostgreSQL pool, an archive), shared by
 * everything that uses it: its tier's store, and for Redis the rate limiter, quota counters, session
 * denylist, write journal and run queue. Each call gets the backend's timeout; failures feed one
 * circuit breaker, so when one user sees the backend fail, the others fail fast instead of each
 * waiting out its own timeout. Within a request, a backend that timed out once fails at once
 * afterwards (server/state/request-scope.ts): a request waits at most one timeout per backend.
 */
export class StoreHealth {
  readonly name: string;
  readonly timeoutMs: number;
  readonly breaker: CircuitBreaker;
  private readonly openOnTimeout: boolean;

  constructor(options: StoreHealthOptions) {
    this.name = options.name;
    this.timeoutMs = options.timeoutMs ?? 2000;
    // A breaker shared with other users of the connection, told by its shape (instanceof fails across bundles).
    const given = options.breaker;
    this.breaker = given && "tryAcquire" in given ? given : new CircuitBreaker(given);
    this.openOnTimeout = options.openOnTimeout ?? false;
  }

  /**
   * Runs `fn` against the backend. Rejects with `unavailable` when the circuit is open, when the
   * backend already timed out in this request, when `fn` outlives the timeout, or when it fails (the
   * driver's message is never passed on: it can hold addresses). Errors about the request itself
   * (conflicts, invalid input: StateErrors other than `unavailable`) pass through and count as successes.
   * `timeoutMs` overrides the backend's timeout for a call that must not be abandoned early.
   */
  async call<T>(fn: () => Promise<T>, timeoutMs = this.timeoutMs): Promise<T> {
    const scope = currentRequestScope();
    if (scope?.hasTimedOut(this))
      throw new UnavailableError(
        this.name,
        `${this.name} did not answer earlier in this request`,
        this.retryAfterSeconds(),
      );
    if (!this.breaker.tryAcquire())
      throw new UnavailableError(this.name, `${this.name} is unavailable (circuit open)`, this.retryAfterSeconds());
    try {
      const result = await withTimeout(fn(), timeoutMs);
      this.breaker.success();
      return result;
    } catch (err) {
      if (isCallerError(err)) {
        this.breaker.success();
        throw err;
      }
      if (isTimeout(err)) {
        scope?.markTimedOut(this);
        if (this.openOnTimeout) this.breaker.trip();
        else this.breaker.failure();
        throw new UnavailableError(this.name, `${this.name} did not answer within ${timeoutMs} ms`);
      }
      this.breaker.failure();
      if (isStateError(err)) throw err; // already `unavailable` (callers' errors were let through above)
      throw new UnavailableError(this.name, `${this.name} failed: ${describe(err)}`);
    }
  }

  private retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.breaker.retryAfterMs / 1000));
  }
}

/** A short, secret-free reason: the error's class and code, never its message (which may hold a URL). */
function describe(err: unknown): string {
  const e = err as { code?: unknown; name?: unknown };
  return [typeof e?.name === "string" ? e.name : "error", typeof e?.code === "string" ? e.code : undefined]
    .filter(Boolean)
    .join(" ");
}
