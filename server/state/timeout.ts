/** A call that did not settle within its time limit (its work is abandoned, not cancelled). */
export class TimeoutError extends Error {
  constructor(readonly ms: number) {
    super(`did not answer within ${ms} ms`);
    this.name = "TimeoutError";
  }
}

export function isTimeout(err: unknown): err is TimeoutError {
  return err instanceof Error && err.name === "TimeoutError";
}

/**
 * Settles as `promise` does, or rejects with a TimeoutError after `ms`. The one timeout helper: store
 * guards, direct warm queries, rate limits and key lookups all go through it.
 *
 * Timers run before the event loop reads its sockets: when the loop was busy (CPU-heavy requests, a
 * long GC), the answer may already be waiting there. The rejection is therefore deferred with
 * setImmediate, which runs after that read, so only a call that really has not answered times out.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => setImmediate(() => reject(new TimeoutError(ms))), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}
